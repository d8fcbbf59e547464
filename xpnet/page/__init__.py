"""The drawing page that ``xpnet serve`` serves: static HTML, CSS and JavaScript, no build step."""
