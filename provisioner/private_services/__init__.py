"""Private instances of the provisioned services (Mailman, DokuWiki, Redmine) for tests and the demo."""
