"""The load engine: plans, arrivals and profiles, the workers, several processes, the timeline,
the generator's own health, outages, a rate not met, too many errors, resources, and the
harness every probe runs in."""
