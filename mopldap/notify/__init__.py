"""Mail to people: warnings before the inactivity lock, lock notices, digests for administrators.

mailer.py sends through the configured SMTP server (smtplib, certificates verified); messages.py
renders the templates (Jinja2, plain text and HTML, Chinese and English), which a customer may
replace file by file. May import model only.
"""
