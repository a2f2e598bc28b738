"""What the family uses: filtered retrieval, answers with citations, the Streamlit chat and its feedback."""
