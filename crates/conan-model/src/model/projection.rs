//! A projection `x Wᵀ + b`: burn's `Linear` on the device, or the same product on the host
//! by packed kernels ([`HostLinear`]) where placement put the weight there (burn's CPU
//! backend, whose tensors already live in host memory).

use std::sync::Arc;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::error::ModelError;
use crate::host_gemm::HostLinear;

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
        let (mut dims, device) = (x.dims(), x.device());
        if dims[D - 1] != host.in_features() {
            return Err(ModelError::Input(format!(
                "a projection of {} inputs got rows of {}",
                host.in_features(),
                dims[D - 1]
            )));
        }
        // The CPU backend's tensors are host memory already: reading one is a copy at most.
        let data = x.try_into_data().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        let values = data.try_into_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        let out = host.forward(&values)?;
        dims[D - 1] = host.out_features();
        Ok(Tensor::from_data(TensorData::new(out, dims), &device))
    }
}
