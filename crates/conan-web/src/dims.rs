//! The Matryoshka-dims picker the Embed and Benchmark pages share.

use web_sys::HtmlSelectElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct DimsSelectProps {
    pub id: AttrValue,
    /// The model's Matryoshka dims, offered after "full".
    pub dims: Vec<usize>,
    /// The chosen dims; `None` for full width.
    pub onchange: Callback<Option<usize>>,
}

#[function_component(DimsSelect)]
pub fn dims_select(p: &DimsSelectProps) -> Html {
    let onchange = p.onchange.reform(|e: Event| e.target_unchecked_into::<HtmlSelectElement>().value().parse().ok());
    html! {
        <select id={p.id.clone()} {onchange}>
            <option value="" selected=true>{ "full" }</option>
            { for p.dims.iter().map(|d| html! { <option value={d.to_string()}>{ d }</option> }) }
        </select>
    }
}
