//! Messages as JS values, for both ends of a worker: the UI and its worker, and the worker
//! and its CPU helpers. Bulk floats ([`Response::bulk_floats`]) travel beside the serialised
//! message as transferred `Float32Array`s instead of one JS number each.

use js_sys::{Array, Float32Array, Reflect};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use crate::{Request, Response};

/// A request as the worker reads it.
pub fn request_to_js(request: &Request) -> Result<JsValue, serde_wasm_bindgen::Error> {
    serde_wasm_bindgen::to_value(request)
}

/// `response` serialised, with its bulk floats as `Float32Array`s under their field names,
/// and the buffers to transfer with it.
pub fn response_to_js(mut response: Response) -> Result<(JsValue, Array), serde_wasm_bindgen::Error> {
    let bulk: Vec<(&str, Vec<f32>)> =
        response.bulk_floats().into_iter().map(|(name, floats)| (name, std::mem::take(floats))).collect();
    let value = response.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?;
    let transfer = Array::new();
    for (name, floats) in bulk {
        let array = Float32Array::new_with_length(floats.len() as u32);
        array.copy_from(&floats);
        Reflect::set(&value, &name.into(), &array)?;
        transfer.push(&array.buffer());
    }
    Ok((value, transfer))
}

/// A response from [`response_to_js`]: its `Float32Array`s are copied in whole.
pub fn response_from_js(data: JsValue) -> Result<Response, serde_wasm_bindgen::Error> {
    let mut bulk = Vec::new();
    for name in Response::BULK_FLOAT_FIELDS {
        let key = JsValue::from_str(name);
        if let Ok(array) = Reflect::get(&data, &key).and_then(|v| v.dyn_into::<Float32Array>()) {
            bulk.push((name, array.to_vec()));
            // Deserialised as an empty list; the floats are put back below.
            Reflect::set(&data, &key, &Array::new())?;
        }
    }
    let mut response = serde_wasm_bindgen::from_value::<Response>(data)?;
    for (name, slot) in response.bulk_floats() {
        if let Some(i) = bulk.iter().position(|(n, _)| *n == name) {
            *slot = bulk.swap_remove(i).1;
        }
    }
    Ok(response)
}
