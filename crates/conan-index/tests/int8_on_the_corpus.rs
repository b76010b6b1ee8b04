//! The int8 index against f32 on real vectors: the bundled corpus with the vectors shipped
//! for conan-mini (static/corpus), searched with the sentence-window rule at every
//! Matryoshka dims. Queries are passages that have a translation in the corpus, as on the
//! Search page's trade-off table; the reference is an exact f32 scan of the same vectors.

use std::path::Path;

use conan_index::flat::{dot, top_k};
use conan_index::{Hit, ShippedHeader, WindowIndex, WindowTexts, parse_corpus, shipped, window_score};

fn unit_prefix(v: &[f32], dims: usize) -> Vec<f32> {
    let n = dot(&v[..dims], &v[..dims]).sqrt();
    v[..dims].iter().map(|x| x / n).collect()
}

#[test]
fn int8_search_finds_what_f32_finds_on_the_shipped_corpus_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static/corpus");
    let corpus = parse_corpus(&std::fs::read(dir.join("corpus.jsonl")).unwrap()).unwrap();
    let header: ShippedHeader = serde_json::from_slice(&std::fs::read(dir.join("vectors.json")).unwrap()).unwrap();
    let vectors = shipped::decode_f16(&header, &std::fs::read(dir.join("vectors.f16")).unwrap()).unwrap();
    let texts: Vec<&str> = corpus.iter().map(|p| p.text.as_str()).collect();
    let laid_out = WindowTexts::new(&texts);
    assert_eq!((laid_out.passages(), laid_out.sentences()), (header.passages, header.sentences));
    let width = header.width;
    let mut index = WindowIndex::new(width, &[64, 128]);
    index.extend(&laid_out.spans, &vectors).unwrap();
    // Which passage each sentence vector belongs to, in the laid-out order.
    let owner: Vec<usize> =
        laid_out.spans.iter().enumerate().flat_map(|(p, spans)| std::iter::repeat_n(p, spans.len())).collect();
    let row = |i: usize| &vectors[i * width..(i + 1) * width];
    let ids: std::collections::HashMap<&str, usize> =
        corpus.iter().enumerate().map(|(i, p)| (p.id.as_str(), i)).collect();
    let queries: Vec<usize> = (0..corpus.len()).filter(|&i| !corpus[i].translations.is_empty()).step_by(3).collect();
    assert!(queries.len() > 1000, "{} queries", queries.len());

    println!("| dims | top-10 rows in common | translation top-1 f32 | int8 | int8 MB | f32 MB |");
    for dims in index.dims() {
        let (mut common, mut found_f32, mut found_int8) = (0usize, 0usize, 0usize);
        for &q in &queries {
            let query = unit_prefix(row(q), dims);
            // Exact f32 window scores, as the index computed them before it held int8.
            let mut scores: Vec<f32> = (0..header.passages).map(|p| dot(&query, &unit_prefix(row(p), dims))).collect();
            for (s, &p) in owner.iter().enumerate() {
                let score = dot(&query, &unit_prefix(row(header.passages + s), dims));
                scores[p] = window_score(scores[p], Some(score));
            }
            let want: Vec<Hit> = top_k(&scores, 10);
            let got = index.search(row(q), dims, 10).unwrap();
            common += got.iter().filter(|g| want.iter().any(|w| w.row == g.row)).count();
            // The query passage itself ranks first: its translation must come next.
            let translation = |rows: Vec<usize>| {
                rows.into_iter()
                    .find(|&r| r != q)
                    .is_some_and(|r| corpus[q].translations.iter().any(|t| ids.get(t.as_str()) == Some(&r)))
            };
            found_f32 += translation(want.iter().map(|h| h.row).collect()) as usize;
            found_int8 += translation(got.iter().map(|h| h.row).collect()) as usize;
        }
        let n = queries.len();
        let rows = header.passages + header.sentences;
        println!(
            "| {dims} | {:.2} % | {:.2} % | {:.2} % | {:.2} | {:.2} |",
            100.0 * common as f64 / (10 * n) as f64,
            100.0 * found_f32 as f64 / n as f64,
            100.0 * found_int8 as f64 / n as f64,
            index.bytes() as f64 / 1e6,
            (rows * width * 4) as f64 / 1e6
        );
        assert!(common * 100 >= 10 * n * 98, "dims {dims}: {common} of {} top-10 rows in common", 10 * n);
        assert!(found_int8.abs_diff(found_f32) * 200 <= n, "dims {dims}: top-1 {found_int8} vs {found_f32} of {n}");
    }
    // A quarter of f32's bytes, plus one inverse norm per row and dims.
    assert!(index.bytes() < (header.passages + header.sentences) * width * 4 * 3 / 10);
}
