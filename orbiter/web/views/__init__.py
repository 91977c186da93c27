"""The pages of the web UI, one module per area. Every page needs a signed-in user;
writes go through the services (`orbiter.*.services`), reads through selectors."""
