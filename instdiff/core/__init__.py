"""What every stage uses: errors, atomic io, logging, seeding, statistics, provenance, layouts, devices."""
