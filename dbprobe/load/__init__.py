"""The load engine: plans, arrivals and profiles, the workers, several processes, the timeline,
the generator's own health, outages, resources, and the harness every probe runs in."""
