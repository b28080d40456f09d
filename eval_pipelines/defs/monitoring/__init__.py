"""Monitoring: quality SLIs, the alert rules' events (hourly and daily), and the drift report."""
