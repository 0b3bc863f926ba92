"""``kerashpo run``: prepare, search, then evaluate, ship and describe what ships."""
