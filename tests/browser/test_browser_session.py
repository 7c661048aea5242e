"""Sessions in a real browser: after signing in, a refresh, another page and a link opened in a new tab
keep the person signed in (the signed ?s= token); signing out ends it for every tab."""

import pytest
from conftest import new_page, wait_ready

pytestmark = pytest.mark.browser

ADMIN_PW = "Admin-pass-2024"
PW = "Steel-2024!xyz"


@pytest.fixture(scope="module")
def prepare_workspace():
    def _prepare(ws):
        from defectlab import team

        team.create_user(ws, "zhang.wei", PW, "annotator", display_name="张伟", by="local",
                         admin_password=ADMIN_PW)
        with ws.transaction() as conn:
            conn.execute("UPDATE users SET must_change_password = 0")
    return _prepare


def _signed_in(page):
    return page.get_by_text("Signed in as zhang.wei").count() > 0


def _sign_in(browser, url):
    """A new page at ``url``, signed in there as zhang.wei."""
    page = new_page(browser)
    page.goto(url)
    wait_ready(page)
    page.get_by_role("textbox", name="User name").fill("zhang.wei")
    page.get_by_role("textbox", name="Password").fill(PW)
    page.get_by_role("button", name="Sign in").click()
    wait_ready(page)
    page.get_by_text("Signed in as zhang.wei").wait_for()
    return page


def test_refresh_and_new_tab_keep_the_session_and_sign_out_ends_it(server, browser):
    page = _sign_in(browser, server.url)
    assert "s=" in page.url
    page.locator("[data-testid='stSidebarNav']").get_by_text("Label book", exact=True).click()
    wait_ready(page)
    page.wait_for_function("() => window.location.search.includes('s=')")
    url = page.url
    page.reload()
    wait_ready(page)
    page.get_by_text("Signed in as zhang.wei").wait_for()
    tab = page.context.new_page()  # a link opened in a new tab (same browser, new Streamlit session)
    tab.goto(url)
    wait_ready(tab)
    tab.get_by_text("Signed in as zhang.wei").wait_for()
    tab.get_by_role("button", name="Sign out").click()
    wait_ready(tab)
    tab.get_by_role("textbox", name="User name").wait_for()
    other = page.context.new_page()
    other.goto(url)  # the token of the ended session no longer signs anybody in
    wait_ready(other)
    other.get_by_role("textbox", name="User name").wait_for()
    assert not _signed_in(other)
    page.context.close()


def test_a_bookmark_signs_in_first_then_opens_its_page_and_a_forbidden_one_says_so(server, browser):
    """Found by a team pass: a bookmarked page opened signed out (or one the role may not open) showed
    Streamlit's English "Page not found" dialog and ran the home page."""
    page = _sign_in(browser, server.url.rstrip("/") + "/label_book")
    page.wait_for_function("() => window.location.pathname.endsWith('/label_book')")
    assert page.get_by_text("Page not found").count() == 0
    page.wait_for_function("() => window.location.search.includes('s=')")
    token = page.url.split("?", 1)[1]
    page.goto(server.url.rstrip("/") + "/train?" + token)  # an annotator may not train
    wait_ready(page)
    page.get_by_text("This page is not open to your role").wait_for()
    assert page.get_by_text("Page not found").count() == 0
    page.context.close()


def test_the_home_page_and_the_sign_in_page_by_their_own_names(server, browser):
    """``/projects`` (the home page is served at ``/``), ``/login`` once signed in and an address naming no page
    showed Streamlit's English "Page not found" dialog; they open the home page."""
    page = _sign_in(browser, server.url.rstrip("/") + "/login")  # signed out too
    page.wait_for_function("() => window.location.search.includes('s=')")
    token = page.url.split("?", 1)[1]
    for name in ("projects", "login"):
        page.goto(server.url.rstrip("/") + f"/{name}?" + token)
        wait_ready(page)
        page.get_by_text("Signed in as zhang.wei").wait_for()
        page.get_by_role("heading", name="Projects").first.wait_for()
        assert page.get_by_text("Page not found").count() == 0
    # an address that names no page (a mistyped or old bookmark): the home page, saying so in the reader's words
    page.goto(server.url.rstrip("/") + "/nonexistent?" + token)
    wait_ready(page)
    page.get_by_text('There is no page "nonexistent" in defectlab').wait_for()
    page.get_by_role("heading", name="Projects").first.wait_for()
    assert page.get_by_text("Page not found").count() == 0
    page.context.close()
