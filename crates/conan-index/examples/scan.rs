//! How long a flat search takes over N passages at every Matryoshka dims (natively; the
//! browser's figure comes from the Search page's "speed check").
//!
//!     cargo run --release -p conan-index --example scan -- [N] [WIDTH]
use std::time::Instant;

use conan_index::FlatIndex;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse().expect("N")).unwrap_or(50_000);
    let width: usize = args
        .next()
        .map(|a| a.parse().expect("WIDTH"))
        .unwrap_or(256);
    let dims: Vec<usize> = [32, 64, 128, 256, 512, 1024, 2048, 3584]
        .into_iter()
        .filter(|&d| d <= width)
        .collect();
    let mut index = FlatIndex::new(width, &dims);
    let mut s = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let row: Vec<f32> = (0..width).map(|_| next()).collect();
    let start = Instant::now();
    for _ in 0..n {
        let v: Vec<f32> = row.iter().map(|x| x + next() * 0.5).collect();
        index.push(&v).unwrap();
    }
    println!(
        "{n} × {width} vectors indexed in {:.0} ms ({:.1} MB)",
        start.elapsed().as_secs_f64() * 1e3,
        index.bytes() as f64 / 1e6
    );
    let query: Vec<f32> = (0..width).map(|_| next()).collect();
    println!("| dims | median search ms (top 10, 15 runs) |\n|---|---|");
    for d in index.dims() {
        let mut times: Vec<f64> = (0..15)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(index.search(&query, d, 10).unwrap());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("| {d} | {:.2} |", times[7]);
    }
}
