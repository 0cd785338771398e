// Host helpers and the tile-offset kernel of the tiled attention kernels (attention_common.cuh).
#include "kernels/cuda/attention_common.cuh"

namespace mor::kernels::cu::attn {

__global__ void __launch_bounds__(1024) tile_offsets_kernel(int64_t n_seq, const int64_t* off, int64_t rows_per_tile,
                                                            int64_t* tiles) {
  __shared__ long long sh[32];
  long long carry = 0;
  if (threadIdx.x == 0) tiles[0] = 0;
  for (int64_t c0 = 0; c0 < n_seq; c0 += blockDim.x) {
    const int64_t s = c0 + threadIdx.x;
    long long v = 0;
    if (s < n_seq) v = (off[s + 1] - off[s] + rows_per_tile - 1) / rows_per_tile;
    long long total = 0;
    const long long incl = block_inclusive_scan(v, sh, &total);
    if (s < n_seq) tiles[s + 1] = carry + incl;
    carry += total;
  }
}

void tile_offsets(cudaStream_t s, int64_t n_seq, const int64_t* off, int64_t rows_per_tile, int64_t* tiles) {
  tile_offsets_kernel<<<1, 1024, 0, s>>>(n_seq, off, rows_per_tile, tiles);
  check_launch("attention tile offsets");
}

unsigned grid_x(int64_t heads) {
  if (heads > 65535)  // heads run along the grid's y dimension
    throw std::runtime_error("CUDA attention: " + std::to_string(heads) +
                             " heads exceed the grid's 65535 along y. Hint: fewer heads, or device: cpu.");
  const int64_t target = int64_t(sm_count()) * 16;
  int64_t g = (target + heads - 1) / (heads > 0 ? heads : 1);
  if (g < 1) g = 1;
  if (g > 65535) g = 65535;
  return unsigned(g);
}

void allow_shared(const void* kernel, size_t bytes, int64_t D) {
  if (bytes <= size_t(48) << 10) return;
  int dev = 0, most = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&most, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), "cudaDeviceGetAttribute");
  if (bytes > size_t(most))
    throw std::runtime_error("CUDA attention: head size " + std::to_string(D) + " needs " + std::to_string(bytes) +
                             " bytes of shared memory per block, this GPU allows " + std::to_string(most) +
                             ". Hint: use f32 rather than f64, a smaller head_dim, or device: cpu.");
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
        "cudaFuncSetAttribute (attention shared memory)");
}

}  // namespace mor::kernels::cu::attn
