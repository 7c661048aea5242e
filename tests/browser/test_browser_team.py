"""Team mode in a real browser: the sign-in page, then the team pages of a lead, with screenshots."""

import pytest
from conftest import new_page, shot, wait_ready

pytestmark = pytest.mark.browser

ADMIN_PW = "Admin-pass-2024"


@pytest.fixture(scope="module")
def prepare_workspace():
    def _prepare(ws):
        from defectlab import team
        from defectlab.store import annotate, items_frame, list_projects

        team.create_user(ws, "zhang.wei", "Steel-2024!xyz", "annotator", display_name="张伟", by="local",
                         admin_password=ADMIN_PW)
        team.create_user(ws, "li.na", "Steel-2024!xyz", "annotator", display_name="李娜", by="local")
        project = list_projects(ws)[0]
        frame = items_frame(ws, project.id)
        ids = [int(i) for i in frame[frame["label"].isna()]["id"]][:40]
        team.create_assignment(ws, project, ids, ["zhang.wei", "li.na"], overlap=0.5, gold_rate=0.0,
                               by="local", name="week 48")
        for k, item in enumerate(ids[:6]):
            annotate(ws, item, project.classes[k % 2], user="zhang.wei", seconds=3.0)
            annotate(ws, item, project.classes[(k + 1) % 3], user="li.na", seconds=4.0)
    return _prepare


def test_sign_in_and_team_pages(server, browser):
    page = new_page(browser)
    page.goto(server.url)
    wait_ready(page)
    shot(page, "team_login")
    page.get_by_role("textbox", name="User name").fill("local")
    page.get_by_role("textbox", name="Password").fill(ADMIN_PW)
    page.get_by_role("button", name="Sign in").click()
    wait_ready(page)
    page.get_by_text("Signed in as local").wait_for()
    # navigate inside the same session (a new page load would be a new, signed-out session)
    for name, title in (("team_assign", "Assignments"), ("team_agreement", "Agreement"),
                        ("team_report", "Throughput"), ("team_audit", "Audit log"),
                        ("team_users", "Users & roles"), ("team_qc", "QC review")):
        page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
        wait_ready(page)
        shot(page, name)
        assert page.locator("[data-testid='stException']").count() == 0, name
    page.context.close()
