"""The Streamlit chat (`household ui`): category tags on every question, sources, and corrections.

`app.py` is the entry script; `pages/` holds the chat and feedback pages. The logic lives in the
small modules beside them so it can be tested without a browser.
"""
