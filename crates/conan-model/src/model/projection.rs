//! A projection `x Wᵀ + b`: burn's `Linear` on the device, or the same product on the host
//! by packed kernels ([`HostLinear`]) where placement put the weight there (burn's CPU
//! backend, whose tensors already live in host memory).

use std::sync::Arc;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::error::ModelError;
use crate::host_gemm::{self, HostLinear};

#[derive(Module, Debug)]
pub enum Projection {
    Device(Linear),
    Host(HostProjection),
}

/// A weight packed for the host's kernels: not a burn parameter (nothing to train or
/// record), shared between copies of the model.
#[derive(Module, Debug)]
pub struct HostProjection {
    #[module(skip)]
    pub weight: Arc<HostLinear>,
}

impl Projection {
    /// A `d_in → d_out` projection on `device`, weights initialised lazily (loading
    /// replaces them before any is allocated).
    pub fn init(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Self {
        Self::Device(LinearConfig::new(d_in, d_out).with_bias(bias).init(device))
    }

    pub fn host(weight: HostLinear) -> Self {
        Self::Host(HostProjection { weight: Arc::new(weight) })
    }

    /// `x`: `[.., d_in]` → `[.., d_out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>, ModelError> {
        let host = match self {
            Self::Device(linear) => return Ok(linear.forward(x)),
            Self::Host(host) => &host.weight,
        };
        let rows = HostRows::read(x, host)?;
        let out = host.forward(&rows.values)?;
        Ok(rows.output(out, host.out_features()))
    }

    /// [`Self::forward`] of each projection on the same `x` (q, k and v): where all are host
    /// weights, `x` is read once and its rows quantized once for all of them.
    pub fn forward_shared<const D: usize, const N: usize>(
        projections: [&Self; N],
        x: Tensor<D>,
    ) -> Result<[Tensor<D>; N], ModelError> {
        let hosts: Vec<&HostLinear> = projections
            .iter()
            .filter_map(|p| match p {
                Self::Host(h) => Some(&*h.weight),
                Self::Device(_) => None,
            })
            .collect();
        let outs = if N > 0 && hosts.len() == N {
            let rows = HostRows::read(x, hosts[0])?;
            let outs = HostLinear::forward_shared(&hosts, &rows.values)?;
            outs.into_iter().zip(&hosts).map(|(out, h)| rows.output(out, h.out_features())).collect()
        } else {
            projections.iter().map(|p| p.forward(x.clone())).collect::<Result<Vec<_>, _>>()?
        };
        Ok(outs.try_into().unwrap_or_else(|_: Vec<_>| unreachable!("one output per projection")))
    }
}

/// SwiGLU's gated product `silu(x W_gᵀ) ⊙ (x W_uᵀ)`. Where both weights are on the host the
/// two products share one read and quantization of `x`, and the gating runs there with a
/// vectorised exponential ([`host_gemm::swiglu`]); elsewhere it is burn's `silu` and a product.
pub fn swiglu(gate: &Projection, up: &Projection, x: Tensor<3>) -> Result<Tensor<3>, ModelError> {
    let (Projection::Host(g), Projection::Host(u)) = (gate, up) else {
        return Ok(silu(gate.forward(x.clone())?) * up.forward(x)?);
    };
    let (g, u) = (&g.weight, &u.weight);
    if g.out_features() != u.out_features() {
        return Err(ModelError::Weights(format!(
            "the gate projection has {} outputs but the up projection {}",
            g.out_features(),
            u.out_features()
        )));
    }
    let rows = HostRows::read(x, g)?;
    let [mut gated, up]: [Vec<f32>; 2] = HostLinear::forward_shared(&[g, u], &rows.values)?
        .try_into()
        .unwrap_or_else(|_: Vec<_>| unreachable!("one output per projection"));
    host_gemm::swiglu(&mut gated, &up);
    Ok(rows.output(gated, g.out_features()))
}

/// A tensor's rows read into host memory for [`HostLinear`], and where the answer goes back.
struct HostRows<const D: usize> {
    values: Vec<f32>,
    dims: [usize; D],
    device: Device,
}

impl<const D: usize> HostRows<D> {
    fn read(x: Tensor<D>, weight: &HostLinear) -> Result<Self, ModelError> {
        let (dims, device) = (x.dims(), x.device());
        if dims[D - 1] != weight.in_features() {
            return Err(ModelError::Input(format!(
                "a projection of {} inputs got rows of {}",
                weight.in_features(),
                dims[D - 1]
            )));
        }
        Ok(Self { values: host_values(x)?, dims, device })
    }

    /// `values`: the same rows, `width` wide.
    fn output(&self, values: Vec<f32>, width: usize) -> Tensor<D> {
        let mut dims = self.dims;
        dims[D - 1] = width;
        Tensor::from_data(TensorData::new(values, dims), &self.device)
    }
}

/// A tensor's values, row-major. The CPU backend's tensors are host memory already:
/// reading one is a copy at most.
pub(crate) fn host_values<const D: usize>(x: Tensor<D>) -> Result<Vec<f32>, ModelError> {
    let data = x.try_into_data().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    data.try_into_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))
}
