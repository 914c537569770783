//! The MPI suite: runs the worker `graft-ddp-selftest` under `mpirun -np 2` and checks
//! what it reports. Needs Open MPI (`libopenmpi-dev openmpi-bin libclang-dev`); built only
//! with `--features mpi`. Without `mpirun` every test fails, naming the packages.
#![cfg(feature = "mpi")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use graft_distributed::Checkpoint;

/// What one `mpirun` run gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    seconds: f64,
}

/// Finds `mpirun` on PATH, or fails with what to install.
fn mpirun_path() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("mpirun"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the MPI test suite needs Open MPI's `mpirun`, which is not on PATH: install the \
             Debian packages libopenmpi-dev openmpi-bin libclang-dev \
             (apt-get install -y libopenmpi-dev openmpi-bin libclang-dev)"
        )
    })
}

/// Runs the self-test worker on `np` ranks; kills it after `limit` (and fails).
fn mpirun(np: usize, args: &[&str], limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = Command::new(mpirun_path())
        // --oversubscribe: more ranks than free cores is fine for tests (2-core machines).
        .args(["--oversubscribe", "-np", &np.to_string()])
        .arg(env!("CARGO_BIN_EXE_graft-ddp-selftest"))
        .args(args)
        // Open MPI refuses to run as root without these (containers, CI).
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start mpirun");
    // Read the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for mpirun") {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "mpirun {args:?} still running after {:.0} s: killed (a hang)",
                limit.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code: status.code(),
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn expect_pass(args: &[&str]) -> Run {
    expect_pass_on(2, args)
}

fn expect_pass_on(ranks: usize, args: &[&str]) -> Run {
    let run = mpirun(ranks, args, Duration::from_secs(120));
    assert!(
        run.code == Some(0) && run.stdout.contains(&format!("PASS {}", args[0])),
        "mpirun -np {ranks} {args:?} failed (exit {:?})\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    run
}

#[test]
fn collectives_on_odd_sizes_f32_and_f64() {
    expect_pass(&["collectives"]);
}

#[test]
fn two_ranks_of_16_equal_one_process_of_32_sgd_momentum() {
    expect_pass(&["equivalence", "sgd"]);
    // Small buckets: several all-reduces per step give the same result.
    expect_pass(&["equivalence", "sgd", "1024"]);
    // The same through MPI_Allreduce, the path between machines, and through a window
    // smaller than every bucket.
    expect_pass(&["equivalence", "sgd", "1024", "allreduce"]);
    expect_pass(&["equivalence", "sgd", "1024", "chunked"]);
}

#[test]
fn two_ranks_of_16_equal_one_process_of_32_adam() {
    expect_pass(&["equivalence", "adam"]);
    expect_pass(&["equivalence", "adam", "1024"]);
    expect_pass(&["equivalence", "adam", "1024", "allreduce"]);
    expect_pass(&["equivalence", "adam", "1024", "chunked"]);
}

#[test]
fn four_ranks_of_8_equal_one_process_of_32() {
    // Four slices of the shared-memory sum, and the all-reduce path, with more than 2 ranks.
    expect_pass_on(4, &["equivalence", "adam"]);
    expect_pass_on(4, &["equivalence", "adam", "1024", "chunked"]);
    expect_pass_on(4, &["equivalence", "sgd", "1024", "allreduce"]);
}

#[test]
fn ranks_with_different_configs_all_get_an_error() {
    expect_pass(&["mismatch"]);
}

#[test]
fn sampler_shards_agree_across_ranks() {
    expect_pass(&["sampler"]);
}

fn checkpoint_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("graft_fault_{tag}_{}.ckpt", std::process::id()))
}

/// The job ends non-zero within 30 s, and the checkpoint rank 0 wrote at step 2 loads.
fn expect_fault(how: &str, message: &str) {
    let path = checkpoint_path(how);
    std::fs::remove_file(&path).ok();
    let run = mpirun(
        2,
        &["fault", how, path.to_str().expect("utf-8 temp dir")],
        Duration::from_secs(60),
    );
    assert!(
        run.code.is_some_and(|c| c != 0) || run.code.is_none(),
        "a failing rank must fail the job: exit {:?}\n{}",
        run.code,
        run.stderr
    );
    assert!(
        run.seconds < 30.0,
        "the job took {:.1} s to end",
        run.seconds
    );
    assert!(
        run.stderr.contains(message),
        "stderr lacks `{message}`:\n{}",
        run.stderr
    );
    let ckpt = Checkpoint::load(&path).expect("the checkpoint written before the fault");
    assert_eq!(ckpt.epoch, 2);
    assert_eq!(ckpt.optimizer.groups[0].params[0].step, 2);
    std::fs::remove_file(&path).ok();
}

#[test]
fn a_rank_returning_an_error_ends_the_job() {
    expect_fault("error", "injected error at step 3");
}

#[test]
fn a_rank_finalizing_while_the_other_trains_ends_the_job() {
    // The failing rank returns its error and finalizes MPI (freeing the shared window is
    // collective) while the other waits in a gradient sum: both watchdogs end the job.
    expect_fault("return", "injected error at step 3");
}

#[test]
fn a_rank_dying_ends_the_job() {
    expect_fault("exit", "exited with non-zero status");
}

#[test]
fn a_hanging_rank_is_caught_by_the_collective_timeout() {
    expect_fault("hang", "did not complete within 5 s");
}
