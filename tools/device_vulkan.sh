# Sourced by tools/device_bench.sh and tools/device_train.sh on a lent machine: the Vulkan
# loader from the carried .gl debs (the device README), and NVIDIA's driver file when
# BACKEND is wgpu and none is set.
if [[ -d .gl ]] && ! ldconfig -p | grep -q libvulkan; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [[ "$BACKEND" == wgpu && -z "${VK_DRIVER_FILES:-}" && -e $nvidia_icd ]]; then
  export VK_DRIVER_FILES=$nvidia_icd
fi
