//! The model manager's worker side: a model's card (shape, size, memory, fit) from its
//! manifest or config alone, and the WebGPU-vs-CPU agreement check.

use conan_model::burn::prelude::Device;
use conan_model::pack::{BLOCK, Encoding, Manifest, PackOptions, device_bytes, estimate_bytes};
use conan_model::{Config, Embedder, FileSource, ModelFiles, TOKEN_TABLE};
use conan_protocol::{ModelCard, PackPlan, Response};

use crate::download::{BufferLimits, FetchSource, check_limits, largest_buffer, table_limit, webgpu_options};
use crate::now_ms;

/// Texts of the agreement check: both languages, short and long, punctuation and digits.
pub const AGREEMENT_TEXTS: [&str; 6] = [
    "The weather is lovely today.",
    "今天天气很好。",
    "Mixed 中文 and English: 向量 search",
    "我们明天去北京看长城，然后去吃烤鸭。",
    "Please send me the report by 5 p.m. on Friday, 12 March.",
    "他喜歡獨自旅行。",
];

pub fn model_card(config: &Config, manifest: Option<&Manifest>, limits: BufferLimits) -> ModelCard {
    let c = config;
    let mut details = vec![
        ("family".to_string(), c.model_type.clone()),
        ("layers".into(), c.num_hidden_layers.to_string()),
        ("hidden".into(), c.hidden_size.to_string()),
        (
            "heads / KV heads (head dim)".into(),
            format!("{} / {} ({})", c.num_attention_heads, c.kv_heads(), c.head_dim()),
        ),
        ("FFN".into(), c.intermediate_size.to_string()),
        ("vocabulary".into(), c.vocab_size.to_string()),
        ("context".into(), format!("{} tokens", c.max_position_embeddings)),
        ("attention".into(), if c.is_causal() { "causal".into() } else { "bidirectional".into() }),
        ("pooling".into(), c.pooling().as_str().to_string()),
        ("Matryoshka dims".into(), format!("{:?}", c.matryoshka_dims)),
    ];
    if let Some(m) = manifest {
        details.push(quantization_row(m.quantization.scheme, m.quantization.table, m.quantization.block_size));
        details.push(("shards".into(), m.shards.len().to_string()));
    }
    let encoding =
        |name: &str, _: &[usize]| manifest.and_then(|m| m.tensors.get(name)).map_or(Encoding::F32, |t| t.encoding);
    costs(c, &encoding, details, manifest.map(|m| m.shards.iter().map(|s| s.bytes).sum()), limits)
}

/// The card's sizes and fit, each tensor encoded as `encoding` says: GPU bytes on WebGPU
/// (q8 / q4 matrices stay quantized), and where the token table goes.
fn costs(
    c: &Config,
    encoding: &dyn Fn(&str, &[usize]) -> Encoding,
    mut details: Vec<(String, String)>,
    download_bytes: Option<u64>,
    limits: BufferLimits,
) -> ModelCard {
    let (_, largest) = largest_buffer(c, limits);
    let mut gpu_weight_bytes = device_bytes(c, encoding, webgpu_options(limits));
    if webgpu_options(limits).host_table(c) {
        let n = c.vocab_size as u64 * c.hidden_size as u64;
        gpu_weight_bytes -= n * 4;
        // Kept as the pack stores it when quantized; f16 tables are widened to f32 on load.
        let stored = match encoding(TOKEN_TABLE, &[c.vocab_size, c.hidden_size]) {
            e @ (Encoding::Q8 | Encoding::Q4) => (c.vocab_size * e.row_bytes(c.hidden_size)) as u64,
            _ => n * 4,
        };
        details.push((
            "token table".into(),
            format!(
                "in wasm memory, {:.1} MB as stored, rows gathered per batch ({:.1} MB as f32 is over this adapter's {:.1} MB per buffer)",
                stored as f64 / 1e6,
                (n * 4) as f64 / 1e6,
                table_limit(limits) as f64 / 1e6
            ),
        ));
    }
    ModelCard {
        details,
        parameters: c.num_params(),
        download_bytes,
        gpu_weight_bytes,
        largest_buffer_bytes: largest,
        synthetic: c.synthetic,
        refusal: check_limits(c, limits).err(),
        estimated: false,
    }
}

fn quantization_row(scheme: Encoding, table: Encoding, block: usize) -> (String, String) {
    ("quantization".into(), format!("{scheme:?} matrices, {table:?} table, block {block}").to_lowercase())
}

/// The card of a pack that is not built here, from its preset config: the sizes
/// `conan convert` would give it.
pub fn planned_card(plan: &PackPlan, limits: BufferLimits) -> Result<ModelCard, String> {
    let mut config = Config::preset(&plan.preset).map_err(|e| e.to_string())?;
    config.synthetic = true;
    let scheme = Encoding::parse(&plan.quant).ok_or_else(|| format!("unknown quantization {:?}", plan.quant))?;
    let opts = PackOptions::new(scheme);
    let mut details = model_card(&config, None, limits).details;
    details.push(quantization_row(opts.scheme, opts.table, BLOCK));
    let mut card = costs(
        &config,
        &|name, shape| opts.encoding_of(name, shape),
        details,
        Some(estimate_bytes(&config, opts)),
        limits,
    );
    card.estimated = true;
    Ok(card)
}

/// Read only the manifest (a pack) or config.json (an HF folder) at `base_url`.
/// With a `plan`, a pack that is not there is described from its preset instead.
pub async fn inspect(
    id: u32,
    base_url: String,
    plan: Option<PackPlan>,
    limits: BufferLimits,
) -> Result<Response, String> {
    let src = FetchSource::new(base_url.clone());
    let card = match src.read("manifest.json").await.map_err(|e| e.to_string())? {
        Some(bytes) => {
            let m = Manifest::from_json(&bytes).map_err(|e| e.to_string())?;
            model_card(&m.config, Some(&m), limits)
        }
        None => match (src.read("config.json").await.map_err(|e| e.to_string())?, &plan) {
            (Some(bytes), _) => {
                let text = std::str::from_utf8(&bytes).map_err(|e| format!("{base_url}/config.json: {e}"))?;
                let config = Config::from_json(text).map_err(|e| e.to_string())?;
                model_card(&config, None, limits)
            }
            (None, Some(plan)) => planned_card(plan, limits)?,
            (None, None) => return Err(format!("{base_url}: no manifest.json or config.json there")),
        },
    };
    Ok(Response::Inspected { id, base_url, card })
}

/// Embed [`AGREEMENT_TEXTS`] with `embedder` (on WebGPU) and with a CPU copy built from the
/// same files; one row per text.
pub async fn agreement(id: u32, embedder: &Embedder, files: &ModelFiles) -> Result<Response, String> {
    let t = now_ms();
    let gpu = embedder.embed(&AGREEMENT_TEXTS, None).await.map_err(|e| e.to_string())?;
    let gpu_ms = now_ms() - t;
    let cpu_model = Embedder::new(files, &Device::flex()).map_err(|e| e.to_string())?;
    let t = now_ms();
    let cpu = cpu_model.embed(&AGREEMENT_TEXTS, None).await.map_err(|e| e.to_string())?;
    let cpu_ms = now_ms() - t;
    let rows = AGREEMENT_TEXTS
        .iter()
        .zip(gpu.vectors.iter().zip(&cpu.vectors))
        .map(|(text, (a, b))| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            (text.to_string(), dot / (norm(a) * norm(b)), max)
        })
        .collect();
    Ok(Response::Agreement { id, rows, gpu_ms, cpu_ms })
}

/// A loaded model's card, with the pack's download size when it came as a pack.
pub fn loaded_card(files: &ModelFiles, limits: BufferLimits) -> ModelCard {
    let mut card = model_card(&files.config, files.pack.as_ref(), limits);
    if card.download_bytes.is_none() {
        card.download_bytes =
            Some(files.shards.iter().map(|(_, b)| b.len() as u64).sum::<u64>() + files.tokenizer_json.len() as u64);
    }
    card
}
