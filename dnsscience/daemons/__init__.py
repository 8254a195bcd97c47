"""Long-running daemons: emaild, the SSL scanner and the SSL monitor."""
