//! The `page_faults` section: minor faults and time per iteration with the buffer pool on
//! and emptied after every iteration.

use super::*;

fn minor_faults() -> i64 {
    // SAFETY: getrusage only writes the struct we pass; a zeroed rusage is a valid value.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_minflt
    }
}

/// Minor page faults and time per iteration of `(&a + &b).exp()`, with the buffer pool
/// working and with it emptied after every iteration (what an allocator-only design does).
pub(super) fn page_faults() {
    println!(
        "\npage faults per iteration of (&a + &b).exp(), f32, 100 iterations after 10 warm-up:"
    );
    let mut rng = StdRng::seed_from_u64(17);
    for len in [1usize << 20, 1 << 24] {
        let a = random(&[len], &mut rng);
        let b = random(&[len], &mut rng);
        for pooled in [true, false] {
            let step = || {
                black_box((&a + &b).exp());
                if !pooled {
                    f32::pool().expect("f32 has a pool").clear();
                }
            };
            for _ in 0..10 {
                step();
            }
            let iters = 100;
            let (f0, t0) = (minor_faults(), Instant::now());
            for _ in 0..iters {
                step();
            }
            let (faults, time) = (minor_faults() - f0, t0.elapsed());
            println!(
                "  {:>4} MB/tensor, pool {:<8}: {:>8.1} minor faults/iter, {:>8.1} us/iter",
                (len * 4) >> 20,
                if pooled { "on" } else { "cleared" },
                faults as f64 / iters as f64,
                time.as_secs_f64() * 1e6 / iters as f64
            );
        }
    }
    println!();
}
