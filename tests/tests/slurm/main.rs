//! End to end on a real single-node Slurm cluster (`tests/slurm/cluster.sh`, which
//! `.ci/run` installs and starts): `snni run --executor slurm` submits job arrays, ingests
//! what nodes finish, resubmits cancelled, lost and damaged shards, reattaches after the
//! coordinator is killed, keeps drained tasks pending, names time limits, respects
//! MaxArraySize, retries a failing sbatch, and never lets two coordinators or two shaped
//! shards share what they must not. `SNNI_SKIP_SLURM=1` skips them on purpose (loudly).

mod cluster;
#[path = "../common/mod.rs"]
mod common;
mod study;

mod faults;
mod runs;
