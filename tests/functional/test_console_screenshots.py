"""Screenshots of the console's main pages, taken in the real browser of the browser tests with the
same fixtures: a walk through every main page, each a PNG of the documentation's size. The suite
writes them to a temporary folder; scripts/screenshots sets MOPLDAP_SCREENSHOTS_DIR to
docs/screenshots, the ones the README shows.

The pages are Chinese, as the partners' staff see them (fonts-noto-cjk for the glyphs); a
generated password is masked before its page is taken.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from browsing import check, choose, click, element, open_page, sign_in, start_browser, type_into
from conftest import HQADMIN_PW, LISI, QIANBA_PW, ZHANGSAN_PW, account_dn, with_second_partner

WIDTH, HEIGHT = 1280, 800
MASK = "••••••••••••••••••••"


@pytest.fixture(scope="module")
def camera() -> Iterator:
    driver = start_browser(WIDTH, HEIGHT)
    # exactly WIDTH x HEIGHT CSS pixels at scale 1, whatever the window's own frame takes
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MOPLDAP_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(driver, out: Path, name: str) -> Path:
    driver.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
    path = out / f"{name}.png"
    path.write_bytes(driver.get_screenshot_as_png())
    return path


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_screenshots_of_the_main_pages(console, camera, out):
    env = console.env
    driver = camera
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    env.request([LISI | {"title": "服务工程师", "email": "lisi@p001.example.com", "mobile": "13800138001"},
                 {"op": "create_user", "username": "wangwu", "name": "王五", "user_type": "sales",
                  "roles": ["sales-manager"], "title": "销售经理", "initial_password": "Wangwu-Init-2026!"},
                 {"op": "create_user", "username": "zhouqi", "name": "周七", "user_type": "marketing",
                  "roles": ["sales-marketing-staff"], "initial_password": "Zhouqi-Init-2026!"}])
    env.request([{"op": "disable_user", "username": "zhouqi", "reason": "offboarded"}])
    env.own_password(account_dn("lisi"), LISI["initial_password"], "Lisi-Own-Choice-7")
    env.own_password(account_dn("wangwu"), "Wangwu-Init-2026!", "Wangwu-Own-Choice-7")
    with_second_partner(env)
    env.own_password(account_dn("qianba", "P002"), "Qianba-Init-1", QIANBA_PW)
    env.cli("sync")  # their systems, now that their passwords are their own

    open_page(driver, f"{console.url}/signin", "signin")
    type_into(driver, "username", "zhangsan")
    shoot(driver, out, "signin")

    sign_in(driver, console, "zhangsan", ZHANGSAN_PW, expect_id="accounts")
    click(driver, "new-account", "create-account")
    type_into(driver, "f-username", "zhaoliu")
    type_into(driver, "f-name", "赵六")
    type_into(driver, "f-title", "热线专员")
    type_into(driver, "f-email", "zhaoliu@p001.example.com")
    choose(driver, "f-user_type", "service")
    check(driver, "role-hotline-specialist")
    shoot(driver, out, "new_account")

    click(driver, "create-account", "result-status")
    generated = element(driver, "password-zhaoliu").text
    driver.execute_script("for (const e of document.querySelectorAll('code.password')) e.textContent = arguments[0];",
                          MASK)
    assert element(driver, "password-zhaoliu").text == MASK
    shoot(driver, out, "result")

    click(driver, "back", "account-zhaoliu")
    shoot(driver, out, "accounts")

    open_page(driver, f"{console.url}/partners/P001/accounts/lisi", "roles-form")
    shoot(driver, out, "account")

    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    sign_in(driver, console, "zhaoliu", generated, expect_id="must-change")
    shoot(driver, out, "password")

    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    sign_in(driver, console, "lisi", "Lisi-Own-Choice-7", expect_id="systems")
    shoot(driver, out, "me")

    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    sign_in(driver, console, "hqadmin", HQADMIN_PW, expect_id="partners")
    shoot(driver, out, "partners")

    names = {"signin", "new_account", "result", "accounts", "account", "password", "me", "partners"}
    assert {p.stem for p in out.glob("*.png")} >= names
    assert {png_size(out / f"{name}.png") for name in names} == {(WIDTH, HEIGHT)}
