"""Customer analytics: RFM, CLV, propensity, segments, recommendations, review insight."""
