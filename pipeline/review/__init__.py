"""The supervisors' review web app: queue, document view, decisions, dashboard (French pages)."""
