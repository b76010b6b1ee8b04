//! How long a sentence-window search takes over N passages with S sentence vectors each,
//! at every Matryoshka dims (natively; the browser's figure comes from the Search page's
//! "speed check", which searches the same synthetic index).
//!
//!     cargo run --release -p conan-index --example scan -- [N] [S] [WIDTH]
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut arg = |default: usize| args.next().map_or(default, |a| a.parse().expect("a whole number"));
    let (n, s, width) = (arg(50_000), arg(5), arg(256));
    let dims: Vec<usize> = [32, 64, 128, 256, 512, 1024, 2048, 3584].into_iter().filter(|&d| d <= width).collect();
    let start = Instant::now();
    let (index, query) =
        conan_index::window::synthetic(n, s, width, &dims, 0x9e37_79b9_7f4a_7c15).expect("synthetic vectors are valid");
    println!(
        "{n} passages + {} sentence vectors × {width} dims indexed in {:.0} ms: {:.1} MB as int8 ({:.1} MB as f32)",
        index.sentence_count(),
        start.elapsed().as_secs_f64() * 1e3,
        index.bytes() as f64 / 1e6,
        (index.rows() * width * 4) as f64 / 1e6
    );
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
