"""The web dashboard, served by `marketpilot serve` under /ui (docs/dashboard.md): overview, segments,
campaigns with approval, review insight and the service assistant, with ECharts charts."""
