-- Found with 1,000,000 open waits (benches/scale.sh). The timer claims due waits in
-- (deadline, id) order: with an index on deadline alone every batch sorted all due waits
-- (3.8 s per batch of 500 at a million). The wait lists page open waits by id: without a
-- partial index they walk past every closed wait, which only ever grow in number.
DROP INDEX waits_due;
CREATE INDEX waits_due ON waits (deadline, id) WHERE state = 'open';
CREATE INDEX waits_open ON waits (id) WHERE state = 'open';
