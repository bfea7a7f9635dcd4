"""The human study: ratings tables, the rating page, synthetic ratings, analysis and plots."""
