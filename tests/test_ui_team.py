"""Team pages: first account -> team mode, sign-in with a forced password change, the annotator's
assigned queue with blind labels, QC accept / reject, agreement, throughput CSV, audit log."""

import time

from ui_support import app, no_exception, signed_in_app, tiny_workspace

from defectlab import team
from defectlab.store import annotate, label_history

ADMIN_PW = "Admin-pass-2024"
PW = "Steel-2024!xyz"


def _team_ws(root, n_items=10):
    ws, project, ids = tiny_workspace(root, n_items=n_items)
    team.create_user(ws, "ann", PW, "annotator", by="local", admin_password=ADMIN_PW)
    team.create_user(ws, "bob", PW, "annotator", by="local")
    team.create_user(ws, "rev", PW, "reviewer", by="local")
    for u in ("ann", "bob", "rev"):
        team.change_password(ws, u, PW, PW + "1")
    return ws, project, ids


def _as(at_root, user, page, lang="en"):
    return signed_in_app(at_root, user, page, lang=lang)


def test_first_account_starts_team_mode(tmp_path):
    ws, _project, _ids = tiny_workspace(tmp_path / "ws", n_items=2)
    at = app(ws.root, "team_users")
    no_exception(at)
    at.text_input(key="users_new_name").input("zhang.wei")
    at.text_input(key="users_new_display").input("张伟")
    at.text_input(key="users_new_password").input(PW)
    at.text_input(key="users_admin_password").input(ADMIN_PW)
    at.button[0].click()
    at.run()
    no_exception(at)
    assert team.is_team_mode(ws)
    assert team.get_user(ws, "zhang.wei")["display_name"] == "张伟"
    assert at.session_state["auth_user"] == "local"


def test_login_with_forced_password_change(tmp_path):
    ws, _project, _ids = tiny_workspace(tmp_path / "ws", n_items=2)
    team.create_user(ws, "ann", PW, "annotator", by="local", admin_password=ADMIN_PW)
    at = app(ws.root)
    no_exception(at)
    assert at.text_input(key="login_user")  # only the login page in team mode
    at.text_input(key="login_user").input("ann")
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click()
    at.run()
    assert at.error and "Wrong user name or password" in at.error[0].value
    at.text_input(key="login_password").input(PW)
    at.button[0].click()
    at.run()
    at.text_input(key="login_old").input(PW)
    at.text_input(key="login_new").input("New-steel-2025")
    at.text_input(key="login_again").input("New-steel-2025")
    at.button[0].click()
    at.run()
    no_exception(at)
    assert at.session_state["auth_user"] == "ann"
    assert team.authenticate(ws, "ann", "New-steel-2025")["username"] == "ann"


def test_annotator_labels_the_assigned_queue_blind(tmp_path):
    ws, project, ids = _team_ws(tmp_path / "ws")
    res = team.create_assignment(ws, project, ids[:6], ["ann", "bob"], overlap=1.0, gold_rate=0.0,
                                 by="local")
    assert res["n_overlap"] == 6
    annotate(ws, ids[0], "pit", user="bob")
    at = _as(ws.root, "ann", "label")
    no_exception(at)
    assert at.selectbox(key="lbl_order").value == "assigned"
    assert not any("pit" in c.value for c in at.caption if "Current label" in c.value)
    first = team.next_items(ws, project, "ann")[0]["item_id"]
    at.button(key="lbl_key_3").click().run()
    no_exception(at)
    rows = [r for r in label_history(ws, first) if r["user"] == "ann"]
    assert [r["label"] for r in rows] == ["scale"]


def test_qc_accept_and_reject_with_comment(tmp_path):
    ws, project, ids = _team_ws(tmp_path / "ws")
    a1 = annotate(ws, ids[0], "pit", user="ann")
    a2 = annotate(ws, ids[1], "scale", user="ann")
    at = _as(ws.root, "rev", "team_qc")
    no_exception(at)
    at.slider(key="qc_rate").set_value(1.0)
    at.button(key="qc_draw").click().run()
    assert any(c.value == "Labels left to check: 2" for c in at.caption)
    at.button(key="qc_accept").click().run()
    assert any(c.value == "Labels left to check: 1" for c in at.caption)
    at.text_area(key=f"qc_comment_{a2}").input("a scale mark, not pit")
    at.button(key="qc_reject").click().run()
    no_exception(at)
    decisions = team.qc_decisions(ws, project)
    by_ann = {int(r["annotation_id"]): bool(r["accept"]) for _, r in decisions.iterrows()}
    assert by_ann == {a1: True, a2: False}
    # the rejected label comes back in ann's queue with the comment
    assert team.next_items(ws, project, "ann")[0]["reason"] == "rejected"
    # approval rates with translated headers, not the library's column names
    table = at.dataframe[0].value
    assert list(table.columns) == ["Annotator", "Reviewed", "Accepted", "Rejected", "Approval rate"]
    assert table.iloc[0].tolist() == ["ann", 2, 1, 1, 50.0]  # shown as 50%


def test_qc_rates_headers_in_chinese(tmp_path):
    ws, _project, ids = _team_ws(tmp_path / "ws")
    annotate(ws, ids[0], "pit", user="ann")
    at = _as(ws.root, "rev", "team_qc", lang="zh_CN")
    no_exception(at)
    at.slider(key="qc_rate").set_value(1.0)
    at.button(key="qc_draw").click().run()
    assert any(c.value == "待检查标注：1 条" for c in at.caption)
    at.button(key="qc_accept").click().run()
    no_exception(at)
    assert list(at.dataframe[0].value.columns) == ["标注员", "已检查", "通过", "驳回", "通过率"]


def _csv_spy(monkeypatch):
    """Record the text of every throughput CSV the Team report page offers for download."""
    made = []
    real = team.throughput_csv

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(team, "throughput_csv", spy)
    return made


def test_throughput_csv_headers_follow_the_session_language(tmp_path, monkeypatch):
    ws, _project, ids = _team_ws(tmp_path / "ws")
    annotate(ws, ids[0], "pit", user="ann")
    made = _csv_spy(monkeypatch)
    at = _as(ws.root, "local", "team_report", lang="zh_CN")
    no_exception(at)
    assert at.get("download_button")
    header = made[-1].split("\r\n")[0]
    assert header == ("\ufeff日期,用户,姓名,角色,标注数量,更正数,质检抽查数,通过,驳回,有效时长（秒）,"
                      "有效时长（小时）,每小时标注数")
    assert made[-1].split("\r\n")[1].split(",")[1] == "ann"
    # English keeps the stable, machine-readable column names
    at = _as(ws.root, "local", "team_report")
    no_exception(at)
    assert made[-1].split("\r\n")[0] == "\ufeff" + ",".join(team.THROUGHPUT_COLUMNS)


def test_lead_pages_render_and_create_assignment(tmp_path):
    ws, project, ids = _team_ws(tmp_path / "ws")
    annotate(ws, ids[0], "pit", user="ann")
    annotate(ws, ids[0], "scale", user="bob")
    for page in ("team_assign", "team_agreement", "team_report", "team_audit", "team_users"):
        at = _as(ws.root, "local", page)
        no_exception(at)
    at = _as(ws.root, "local", "team_assign")
    at.pills(key="assign_people").set_value(["ann", "bob"])
    at.number_input(key="assign_n").set_value(4)
    at.button[0].click()
    at.run()
    no_exception(at)
    assert len(team.list_assignments(ws, project)) == 1
    at = _as(ws.root, "local", "team_agreement")
    at.selectbox(key=f"agr_label_{ids[0]}").set_value("scale").run()  # a tie: the lead must choose
    at.button(key="agr_save").click().run()
    no_exception(at)
    assert label_history(ws, ids[0])[-1]["source"] == "review"
    at = _as(ws.root, "local", "team_report")
    assert at.get("download_button")


def test_assignments_page_second_batch_close_confirm_reopen_and_gold(tmp_path):
    """Found by a team pass in zh-CN: a second batch handed out the first one's items again, closing was one
    click with no way back, and gold items were never shown nor their accuracy."""
    ws, project, ids = _team_ws(tmp_path / "ws")
    at = _as(ws.root, "local", "team_assign", lang="zh_CN")
    no_exception(at)
    at.pills(key="assign_people").set_value(["ann"])
    at.number_input(key="assign_n").set_value(3)
    at.button[0].click().run()
    first = team.list_assignments(ws, project)[0]
    at.pills(key="assign_people").set_value(["bob"])
    at.number_input(key="assign_n").set_value(3)
    at.button[0].click().run()
    no_exception(at)
    second = team.list_assignments(ws, project)[0]
    mine = {r["user"]: r["n_items"] for r in second["progress"]}
    assert mine == {"bob": 3}
    assert team.assigned_items(ws, project) == set(ids[:6])  # six different items, none given twice
    # closing asks first; cancel keeps it open; then close and reopen
    at.button(key=f"assign_close_{first['id']}").click().run()
    assert any("重新打开" in w.value for w in at.warning)
    at.button(key=f"assign_close_no_{first['id']}").click().run()
    assert team.list_assignments(ws, project)[1]["closed_at"] is None
    at.button(key=f"assign_close_{first['id']}").click().run()
    at.button(key=f"assign_close_yes_{first['id']}").click().run()
    assert team.list_assignments(ws, project)[1]["closed_at"] is not None
    at.button(key=f"assign_reopen_{first['id']}").click().run()
    no_exception(at)
    assert team.list_assignments(ws, project)[1]["closed_at"] is None
    # gold: tick two labeled items in the picker table and make them gold
    for i in ids[6:9]:  # three labeled: one stays in the picker after two are made gold
        annotate(ws, i, "pit", user="local", source="review")
    at.run()
    rows = at.dataframe(key="gold_pick_table_0").value
    picked = [k for k, item in enumerate(rows.iloc[:, 0]) if item in (f"#{ids[6]}", f"#{ids[7]}")]
    at.session_state["gold_pick_table_0"] = {"selection": {"rows": picked, "columns": [], "cells": []}}
    at.run()
    at.button(key="gold_set").click().run()
    no_exception(at)
    assert {g["item_id"] for g in team.gold_items(ws, project)} == {ids[6], ids[7]}
    assert at.button(key="gold_set").disabled  # a fresh table: no stale tick makes another item gold
    # the accuracy of who labeled them
    annotate(ws, ids[6], "pit", user="ann")
    annotate(ws, ids[7], "scale", user="ann")
    at.run()
    no_exception(at)
    table = next(d for d in at.dataframe if "准确率" in d.value.columns).value
    assert table.iloc[0].tolist()[1:] == [2, 1, 50.0]
    # tick one gold item and remove it from gold
    at.session_state["gold_table_1"] = {"selection": {"rows": [1], "columns": [], "cells": []}}  # the last row
    at.run()
    at.button(key="gold_remove").click().run()
    no_exception(at)  # before: IndexError, the tick outlived its row
    assert len(team.gold_items(ws, project)) == 1


def test_agreement_names_the_item_and_asks_for_a_decision_on_a_tie(tmp_path):
    ws, _, ids = _team_ws(tmp_path / "ws")
    annotate(ws, ids[1], "pit", user="ann")
    annotate(ws, ids[1], "scale", user="bob")
    at = _as(ws.root, "local", "team_agreement")
    no_exception(at)
    assert any(c.value.startswith(f"#{ids[1]} · ") for c in at.caption)
    # a 1-1 tie: no class is preselected and nothing can be saved until the lead chooses
    box = at.selectbox(key=f"agr_label_{ids[1]}")
    assert box.value is None
    assert at.button(key="agr_save").disabled
    assert label_history(ws, ids[1])[-1]["source"] == "human"
    box.set_value("pit").run()
    assert not at.button(key="agr_save").disabled
    at.button(key="agr_save").click().run()
    no_exception(at)
    last = label_history(ws, ids[1])[-1]
    assert (last["source"], last["label"]) == ("review", "pit")


def test_agreement_preselects_a_clear_majority(tmp_path):
    ws, _, ids = _team_ws(tmp_path / "ws")
    team.create_user(ws, "cat", PW, "annotator", by="local")
    for user, label in (("ann", "scale"), ("bob", "scale"), ("cat", "pit")):
        annotate(ws, ids[2], label, user=user)
    at = _as(ws.root, "local", "team_agreement")
    no_exception(at)
    assert at.selectbox(key=f"agr_label_{ids[2]}").value == "scale"
    assert not at.button(key="agr_save").disabled


def test_idle_session_is_signed_out(tmp_path):
    ws, _project, _ids = _team_ws(tmp_path / "ws")
    at = _as(ws.root, "ann", "projects")
    assert at.session_state["auth_user"] == "ann"
    at.session_state["last_seen"] = time.time() - team.SESSION_IDLE_SECONDS - 5
    at.run()
    no_exception(at)
    assert "auth_user" not in at.session_state
    assert at.text_input(key="login_user")


def test_home_page_tells_each_role_its_own_next_step(tmp_path):
    """Found by a team pass: an annotator's home page told her to review or predict (pages she cannot open)."""
    ws, project, ids = _team_ws(tmp_path / "ws")
    team.create_user(ws, "sup", PW, "supervisor", by="local")
    team.create_assignment(ws, project, ids[:4], ["ann"], overlap=0, gold_rate=0, by="local")
    expected = {"ann": "4 items are waiting for you", "bob": "nothing is assigned to you", "rev": "QC review",
                "sup": "Predict"}
    for user, text in expected.items():
        at = _as(ws.root, user, "projects")
        no_exception(at)
        body = " ".join(m.value for m in at.markdown)
        assert text in body, (user, body)
        assert "**train**" not in body and "**Review**" not in body


def test_users_page_clears_the_form_after_an_account_and_offers_a_lead_no_reset(tmp_path):
    ws, _project, _ids = _team_ws(tmp_path / "ws")
    team.create_user(ws, "lena", PW, "lead", by="local")
    at = _as(ws.root, "local", "team_users")
    at.text_input(key="users_new_name").input("cat")
    at.text_input(key="users_new_password").input(PW)
    at.button[0].click().run()
    no_exception(at)
    assert team.get_user(ws, "cat")["role"] == "annotator"
    assert at.text_input(key="users_new_name_1").value == "" and at.text_input(key="users_new_password_1").value == ""
    assert at.text_input(key="users_reset")  # the admin resets passwords
    at = _as(ws.root, "lena", "team_users")
    no_exception(at)
    assert not [w for w in at.text_input if w.key == "users_reset"]
    assert any("admin" in c.value for c in at.caption)
