from conftest import ZHANGSAN_PW


def test_partner_admin_lands_on_accounts(console):
    client, page = console.sign_in("zhangsan", ZHANGSAN_PW)
    assert page.url.path == "/partners/P001"
    assert 'id="account-zhangsan"' in page.text
