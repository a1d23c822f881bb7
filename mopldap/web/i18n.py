"""The console's two languages: English text in the code and templates is the key; Chinese comes
from the catalog below. A missing entry shows the English (and a test lists what is missing)."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = {"zh": "中文", "en": "English"}

ZH = {
    "%(n)s accounts": "共 %(n)s 个帐号",
    "%(total)s partners": "共 %(total)s 个伙伴",
    "Access review (CSV)": "权限复核清单 (CSV)",
    "Access": "访问",
    "Accounts": "帐号数",
    "Active": "正常",
    "At least %(n)s characters.": "至少 %(n)s 个字符。",
    "Awaiting first password": "待首次改密",
    "Back to the accounts": "返回帐号列表",
    "Back": "返回",
    "Change password": "修改密码",
    "Code": "编码",
    "Company name": "公司名称",
    "Continue": "继续",
    "Create account": "创建帐号",
    "Create partner": "创建伙伴",
    "Current password": "当前密码",
    "Days until lock": "距锁定天数",
    "Days until the inactivity lock": "距不活跃锁定天数",
    "Delete account": "删除帐号",
    "Delete": "删除",
    "Disable": "禁用",
    "Email": "邮箱",
    "Enable": "启用",
    "Generated passwords, shown this once and stored nowhere: hand them over now.":
        "系统生成的密码只显示这一次,不会保存:请现在交给本人。",
    "HQ": "总部",
    "Initial password (empty: generated)": "初始密码(留空则自动生成)",
    "Its first administrator": "伙伴系统管理员",
    "Last login": "最近登录",
    "Lock reason": "禁用原因",
    "Locked on": "禁用日期",
    "Locked": "已锁定",
    "MOP partner accounts": "MOP 伙伴用户管理",
    "Mobile": "手机",
    "My account": "我的帐号",
    "Name": "姓名",
    "New account": "新建帐号",
    "New partner": "新建伙伴",
    "New password again": "再次输入新密码",
    "New password": "新密码",
    "Next": "下一页",
    "No accounts.": "没有帐号。",
    "No partners.": "没有伙伴。",
    "Operation": "操作",
    "Our accounts": "本公司帐号",
    "Partner accounts": "伙伴帐号",
    "Partner code": "伙伴编码",
    "Partner": "伙伴",
    "Partners": "伙伴",
    "Password": "密码",
    "Previous": "上一页",
    "Profile": "基本信息",
    "Reset password": "重置密码",
    "Result": "结果",
    "Resume": "恢复",
    "Roles": "角色",
    "Save": "保存",
    "Search": "搜索",
    "Set these roles": "设置为这些角色",
    "Add this role": "增加此角色",
    "Remove this role": "去掉此角色",
    "Show": "查询",
    "Sign in": "登录",
    "Sign out": "退出",
    "Status": "状态",
    "Suspend": "暂停",
    "Systems you may use": "可以使用的系统",
    "Systems": "系统",
    "Target": "对象",
    "The account's roles": "帐号的角色",
    "Title": "职务",
    "Type the username to confirm": "输入用户名以确认",
    "User type": "用户类型",
    "Username": "用户名",
    "Your password was changed.": "密码已修改。",
    "Sign in again with your new password.": "请用新密码重新登录。",
    "Request pending": "请求已受理,等待执行",
    "Your password was set by an administrator. Choose your own password before you go on: until then your "
    "systems stay closed to you.": "您的密码是管理员设置的。请先设置您自己的密码:在此之前您无法使用各系统。",
    "Your systems open at the next scheduled run (within minutes).": "您的系统权限将在下一次定时运行时开通(几分钟内)。",
    "admin": "管理员禁用",
    "any role": "全部角色",
    "any status": "全部状态",
    "never": "从未",
    "none": "无",
    "not locked for inactivity": "不会因不活跃被锁定",
    "offboarded": "离职",
    "inactivity": "长期未登录",
    "partner-suspended": "伙伴已暂停",
    "suspended": "已暂停",
    "unchanged": "不变",
    "Search code or name": "搜索编码或名称",
    "Search username, name, email, title": "搜索用户名、姓名、邮箱、职务",
    "empty: generated": "留空则自动生成",
    # statuses
    "active": "正常",
    "first-password": "正常,尚未修改初始密码",
    "disabled": "已禁用",
    "sort: username": "排序:用户名",
    "sort: name": "排序:姓名",
    "sort: status": "排序:状态",
    "sort: last_login": "排序:最近登录",
    "sort: days_left": "排序:距锁定天数",
    "Request applied": "请求已执行",
    "Request rejected": "请求被拒绝",
    "Request failed": "请求执行失败",
    "Request duplicate": "重复的请求",
    # messages from the code
    "Wrong username or password.": "用户名或密码错误。",
    "Too many failed sign-ins; wait a minute and try again.": "登录失败次数过多,请一分钟后再试。",
    "The form expired; please sign in again.": "页面已过期,请重新登录。",
    "The form expired; please try again.": "页面已过期,请重试。",
    "Give your current password and a new one.": "请输入当前密码和新密码。",
    "The two new passwords differ.": "两次输入的新密码不一致。",
    "The new password must differ from the current one.": "新密码不能与当前密码相同。",
    "The new password is too short.": "新密码太短。",
    "The current password is wrong.": "当前密码错误。",
    "The directory's password policy refused the new password (too short, too simple, or used before).":
        "新密码不符合密码策略(太短、太简单或曾经使用过)。",
    "Type the username to confirm the deletion.": "请输入用户名以确认删除。",
    "No such page.": "页面不存在。",
    "No such partner.": "伙伴不存在。",
    "No such account.": "帐号不存在。",
    "That address is not valid.": "地址无效。",
    "The form is too large.": "提交的内容太大。",
    "Another mopldap run is writing; nothing was changed. Try again in a minute.":
        "另一个 mopldap 任务正在写入,未做任何修改。请一分钟后再试。",
    "The directory cannot be reached or refused the operation; nothing was changed. Try again later, or tell HQ.":
        "无法连接目录服务或操作被拒绝,未做任何修改。请稍后再试,或联系总部。",
    "mopldap cannot write its own files (disk full?); nothing was changed. Tell HQ.":
        "mopldap 无法写入自己的文件(磁盘已满?),未做任何修改。请联系总部。",
}


EN = {  # keys that are codes rather than English
    "first-password": "active, password not yet changed",
    "admin": "by an administrator",
    "inactivity": "no login for too long",
    "partner-suspended": "partner suspended",
    "sort: username": "sort by username",
    "sort: name": "sort by name",
    "sort: status": "sort by status",
    "sort: last_login": "sort by last login",
    "sort: days_left": "sort by days until lock",
}


def translator(lang: str) -> Callable[[str], str]:
    catalog = ZH if lang == "zh" else EN
    return lambda text: catalog.get(text, text)


def pick_language(chosen: str | None, accept_language: str | None, default: str) -> str:
    """The language switch's choice (a cookie), else the browser's first of zh/en by quality
    (Accept-Language), else the configured default."""
    if chosen in LANGUAGES:
        return chosen
    best: tuple[float, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in LANGUAGES:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, lang)
    return best[1] if best else default
