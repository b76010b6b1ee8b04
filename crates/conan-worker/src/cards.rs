//! Model cards: what a model is and costs (shape, size, GPU memory, whether it fits this
//! adapter), from its manifest or config alone, before anything large is downloaded.

use conan_model::pack::{BLOCK, Encoding, Manifest, PackOptions, estimate_bytes};
use conan_model::placement::{check_limits, device_bytes, largest_buffer};
use conan_model::source::MAX_JSON_BYTES;
use conan_model::{Config, FileSource, GpuLimits, LoadOptions, ModelFiles, TOKEN_TABLE};
use conan_protocol::{ErrorKind, ModelCard, PackPlan, Response};

use crate::download::FetchSource;
use crate::error::{Result, WorkerError};

/// The card of `config`, with a pack's quantization and shards when there is a `manifest`.
pub fn model_card(config: &Config, manifest: Option<&Manifest>, limits: GpuLimits) -> ModelCard {
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
    costs(c, &encoding, details, manifest.map(Manifest::total_bytes), limits)
}

/// The card's sizes and fit, each tensor encoded as `encoding` says: GPU bytes on WebGPU
/// (q8 / q4 matrices stay quantized), and where the token table goes.
fn costs(
    c: &Config,
    encoding: &dyn Fn(&str, &[usize]) -> Encoding,
    mut details: Vec<(String, String)>,
    download_bytes: Option<u64>,
    limits: GpuLimits,
) -> ModelCard {
    let (_, largest) = largest_buffer(c, limits);
    let mut gpu_weight_bytes = device_bytes(c, encoding, LoadOptions::gpu(limits));
    if LoadOptions::gpu(limits).host_table(c) {
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
                limits.table_limit() as f64 / 1e6
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
        refusal: check_limits(c, limits).err().map(|e| e.to_string()),
        estimated: false,
    }
}

fn quantization_row(scheme: Encoding, table: Encoding, block: usize) -> (String, String) {
    ("quantization".into(), format!("{scheme:?} matrices, {table:?} table, block {block}").to_lowercase())
}

/// The card of a pack that is not built here, from its preset config: the sizes
/// `conan convert` would give it.
pub fn planned_card(plan: &PackPlan, limits: GpuLimits) -> Result<ModelCard> {
    let mut config = Config::preset(&plan.preset)?;
    config.synthetic = true;
    let scheme = Encoding::parse(&plan.quant)
        .ok_or_else(|| WorkerError::bad_input(format!("unknown quantization {:?}", plan.quant)))?;
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
pub async fn inspect(id: u32, base_url: String, plan: Option<PackPlan>, limits: GpuLimits) -> Result<Response> {
    let src = FetchSource::new(base_url.clone());
    let card = match src.read("manifest.json", MAX_JSON_BYTES).await? {
        Some(bytes) => {
            let m = Manifest::from_json(&bytes)?;
            model_card(&m.config, Some(&m), limits)
        }
        None => match (src.read("config.json", MAX_JSON_BYTES).await?, &plan) {
            (Some(bytes), _) => {
                let text = std::str::from_utf8(&bytes)
                    .map_err(|e| WorkerError::new(ErrorKind::BadModel, format!("{base_url}/config.json: {e}")))?;
                let config = Config::from_json(text)?;
                model_card(&config, None, limits)
            }
            (None, Some(plan)) => planned_card(plan, limits)?,
            (None, None) => {
                return Err(WorkerError::new(
                    ErrorKind::Unreadable,
                    format!("{base_url}: no manifest.json or config.json there"),
                ));
            }
        },
    };
    Ok(Response::Inspected { id, base_url, card })
}

/// A loaded model's card, with the pack's download size when it came as a pack.
pub fn loaded_card(files: &ModelFiles, limits: GpuLimits) -> ModelCard {
    let mut card = model_card(&files.config, files.pack.as_ref(), limits);
    if card.download_bytes.is_none() {
        card.download_bytes =
            Some(files.shards.iter().map(|(_, b)| b.len() as u64).sum::<u64>() + files.tokenizer_json.len() as u64);
    }
    card
}
