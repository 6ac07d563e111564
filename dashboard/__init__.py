"""The Dash web app. Imports data/, never jobs/."""
