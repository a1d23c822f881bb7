"""A real browser for the console's tests: Debian's chromium (headless) driven by Selenium.

Selenium is pointed at Debian's own binaries (/usr/bin/chromium, /usr/bin/chromedriver) and told
not to phone home (SE_AVOID_STATS): Selenium Manager would otherwise try to download a browser.
The browser sends Accept-Language zh-CN, as a partner's staff's browsers do.

Tests import the fixtures from here (`from browsing import browser, chromium`): one chromium per
test module (`chromium`), its cookies cleared before each test that asks for `browser`. Every
wait is on the page (an element there, the page before gone); nothing sleeps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "the browser tests need Debian's chromium: run `sudo apt-get install -y chromium chromium-driver`"
WAIT_SECONDS = 20  # a page that writes waits for a reconcile run; far less in practice


def start_browser(width: int = 1280, height: int = 900, accept_language: str = "zh-CN,zh"):
    """A headless chromium under chromedriver, both Debian's."""
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(INSTALL_HINT, pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", "--disable-extensions", "--no-first-run",
                     "--password-store=basic"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "intl.accept_languages": accept_language,
        # no "save this password?" bubble, no leaked-password check (it would go to the network)
        "credentials_enable_service": False,
        "profile.password_manager_enabled": False,
        "profile.password_manager_leak_detection": False,
    })
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_SECONDS)
    return driver


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """One browser for the module's tests."""
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium):
    """The module's browser with no cookies of any site: the consoles of earlier tests listened on
    other ports of the same host, and cookies do not tell ports apart."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    return chromium


# -- what a person does ------------------------------------------------------------------------


def wait(driver, seconds: float = WAIT_SECONDS):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds)


def element(driver, element_id: str):
    """The element `element_id` of the page, once it is there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    return wait(driver).until(EC.presence_of_element_located((By.ID, element_id)))


def ids(driver, css: str) -> list[str]:
    """The ids of the page's elements that match `css`."""
    from selenium.webdriver.common.by import By

    return [e.get_attribute("id") for e in driver.find_elements(By.CSS_SELECTOR, css)]


def open_page(driver, url: str, expect_id: str):
    """Go to `url` and wait for the element `expect_id` of the page that answers."""
    driver.get(url)
    return element(driver, expect_id)


def click(driver, element_id: str, expect_id: str):
    """Click the button or link `element_id` and wait for the next page (the one before gone
    stale) to show the element `expect_id`."""
    from selenium.webdriver.common.by import By

    page = driver.find_element(By.TAG_NAME, "html")
    element(driver, element_id).click()
    wait(driver).until(gone(page))
    return element(driver, expect_id)


def gone(web_element):
    """A wait's condition: `web_element`'s page was left. Unlike EC.staleness_of, it asks again on
    the errors chromedriver gives while a navigation is under way ("Node with given id does not
    belong to the document")."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def left(_driver) -> bool:
        try:
            web_element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException:
            return False
        return False

    return left


def type_into(driver, element_id: str, text: str) -> None:
    field = element(driver, element_id)
    field.clear()
    field.send_keys(text)


def check(driver, element_id: str, checked: bool = True) -> None:
    box = element(driver, element_id)
    if box.is_selected() != checked:
        box.click()


def choose(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(element(driver, element_id)).select_by_value(value)


def path_of(driver) -> str:
    from urllib.parse import urlsplit

    return urlsplit(driver.current_url).path


def sign_in(driver, console, username: str, password: str, expect_id: str = "who"):
    """Sign in at the console's sign-in page; wait for the page it leads to."""
    open_page(driver, f"{console.url}/signin", "username")
    type_into(driver, "username", username)
    type_into(driver, "password", password)
    return click(driver, "signin", expect_id)
