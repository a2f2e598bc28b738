"""Reads household documents (md, txt, csv, ics, eml, html, pdf) into the category-aware Chroma store."""
