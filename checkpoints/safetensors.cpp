// safetensors reader/writer; see safetensors.h. The only nlohmann/json unit of mor_ckpt.
#include "safetensors.h"

#include "atomic_write.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace mor::ckpt {
namespace {

// IEEE binary16 -> binary32 (exact: every half value is a float).
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int e = -1;
    uint32_t m = mant;
    do { ++e; m <<= 1; } while ((m & 0x400u) == 0);
    bits = sign | uint32_t(112 - e) << 23 | ((m & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

DType parse_dtype(const std::string& s, const std::string& path, const std::string& name) {
  if (s == "F32" || s == "F16") return DType::F32;  // F16 is widened to F32 on reading
  if (s == "F64") return DType::F64;
  if (s == "BF16") return DType::BF16;
  if (s == "I32") return DType::I32;
  if (s == "I64") return DType::I64;
  fail_input(path, ": tensor '", name, "' has unsupported dtype ", s, ". Hint: store F32, F64, BF16, F16, I32 or I64.");
}

const char* dtype_tag(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  return "?";
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path, ": cannot open. Hint: check the path.");
  in.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(in.tellg());
  in.seekg(0);
  uint64_t hlen = 0;
  if (size < 8 || !in.read(reinterpret_cast<char*>(&hlen), 8) || hlen > size - 8)
    fail_input(path, ": not a safetensors file (bad header length). Hint: the file may be truncated.");
  std::string header(hlen, '\0');
  in.read(header.data(), std::streamsize(hlen));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const std::exception& e) {
    fail_input(path, ": safetensors header is not valid JSON (", e.what(), ").");
  }
  const uint64_t data_start = 8 + hlen;
  SafetensorsFile f;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      for (auto m = it->begin(); m != it->end(); ++m) f.metadata[m.key()] = m->get<std::string>();
      continue;
    }
    const auto& e = it.value();
    const std::string tag = e.at("dtype").get<std::string>();
    DType dt = parse_dtype(tag, path, it.key());
    Shape shape = e.at("shape").get<std::vector<int64_t>>();
    auto off = e.at("data_offsets").get<std::vector<uint64_t>>();
    Tensor t = Tensor::empty(shape, dt);
    const uint64_t stored = tag == "F16" ? uint64_t(t.numel()) * 2 : t.nbytes();
    if (off.size() != 2 || off[1] - off[0] != stored || data_start + off[1] > size)
      fail_input(path, ": tensor '", it.key(), "' has inconsistent offsets or the file is truncated.");
    in.seekg(std::streamoff(data_start + off[0]));
    if (tag == "F16") {
      std::vector<uint16_t> half(size_t(t.numel()));
      in.read(reinterpret_cast<char*>(half.data()), std::streamsize(stored));
      float* out = t.data<float>();
      for (size_t i = 0; i < half.size(); ++i) out[i] = half_to_float(half[i]);
    } else {
      in.read(static_cast<char*>(t.raw()), std::streamsize(t.nbytes()));
    }
    f.tensors[it.key()] = t;
  }
  return f;
}

void write_safetensors(const std::string& path, const SafetensorsFile& f) {
  nlohmann::ordered_json h;
  uint64_t off = 0;
  for (const auto& [name, t] : f.tensors) {
    h[name] = {{"dtype", dtype_tag(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  if (!f.metadata.empty()) h["__metadata__"] = f.metadata;
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  write_atomically(path, [&](std::ostream& out) {
    uint64_t hlen = header.size();
    out.write(reinterpret_cast<const char*>(&hlen), 8);
    out.write(header.data(), std::streamsize(header.size()));
    for (const auto& [name, t] : f.tensors) {
      Tensor c = t.device().is_cpu() ? t : t.to(Device::cpu());
      out.write(static_cast<const char*>(c.raw()), std::streamsize(c.nbytes()));
    }
  });
}

}  // namespace mor::ckpt
