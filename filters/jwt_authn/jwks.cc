#include "filters/jwt_authn/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <nlohmann/json.hpp>

namespace switchyard::filters::jwt_authn {
namespace {

struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

// A base64url member of `jwk` decoded; false when absent or not base64url.
bool member(const nlohmann::json& jwk, const char* name, std::string& out) {
  const auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() && decodeBase64Url(it->get<std::string>(), out) &&
         !out.empty();
}

PkeyPtr fromData(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) return nullptr;
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) return nullptr;
  return PkeyPtr(key);
}

bool rsaKey(const nlohmann::json& jwk, Jwk& out, std::string& error) {
  std::string n;
  std::string e;
  if (!member(jwk, "n", n) || !member(jwk, "e", e)) {
    error = "an RSA key needs base64url \"n\" and \"e\"";
    return false;
  }
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()),
                       nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()),
                       nullptr));
  if (!bn_n || !bn_e) {
    error = "out of memory";
    return false;
  }
  if (BN_num_bits(bn_n.get()) < 2048) {
    error = "an RSA key of " + std::to_string(BN_num_bits(bn_n.get())) +
            " bits is too weak (at least 2048)";
    return false;
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) == 0 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) == 0) {
    error = "out of memory";
    return false;
  }
  out.key = fromData("RSA", bld.get());
  if (!out.key) {
    error = "OpenSSL refused the RSA key";
    return false;
  }
  out.type = KeyType::Rsa;
  return true;
}

bool ecKey(const nlohmann::json& jwk, const std::string& crv, Jwk& out, std::string& error) {
  const size_t size = crv == "P-256" ? 32 : 48;
  std::string x;
  std::string y;
  if (!member(jwk, "x", x) || !member(jwk, "y", y) || x.size() != size || y.size() != size) {
    error = "an EC key on " + crv + " needs base64url \"x\" and \"y\" of " + std::to_string(size) +
            " bytes";
    return false;
  }
  std::string point = "\x04" + x + y;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  const char* group = crv == "P-256" ? "prime256v1" : "secp384r1";
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 0 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) == 0) {
    error = "out of memory";
    return false;
  }
  out.key = fromData("EC", bld.get());
  bool valid = out.key != nullptr;
  if (valid) {
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, out.key.get(), nullptr));
    valid = check && EVP_PKEY_public_check(check.get()) == 1;
  }
  if (!valid) {
    error = "the EC key's point is not on " + crv;
    out.key.reset();
    return false;
  }
  out.type = crv == "P-256" ? KeyType::EcP256 : KeyType::EcP384;
  return true;
}

bool ed25519Key(const nlohmann::json& jwk, Jwk& out, std::string& error) {
  std::string x;
  if (!member(jwk, "x", x) || x.size() != 32) {
    error = "an Ed25519 key needs a base64url \"x\" of 32 bytes";
    return false;
  }
  out.key.reset(EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  if (!out.key) {
    error = "OpenSSL refused the Ed25519 key";
    return false;
  }
  out.type = KeyType::Ed25519;
  return true;
}

std::string keyLabel(const nlohmann::json& jwk, size_t index) {
  const auto kid = jwk.find("kid");
  if (kid != jwk.end() && kid->is_string()) return "key \"" + kid->get<std::string>() + "\"";
  return "key #" + std::to_string(index);
}

// One key of the set: true with `out` filled, false with `error` for a broken key, or false
// with `skip` set for a key the filter does not use.
bool parseKey(const nlohmann::json& jwk, Jwk& out, std::string& error, std::string& skip) {
  if (!jwk.is_object()) {
    error = "not a JSON object";
    return false;
  }
  const auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) {
    error = "no \"kty\"";
    return false;
  }
  if (const auto use = jwk.find("use"); use != jwk.end() && *use != "sig") {
    skip = "not a signing key (\"use\")";
    return false;
  }
  if (const auto kid = jwk.find("kid"); kid != jwk.end()) {
    if (!kid->is_string()) {
      error = "\"kid\" is not a string";
      return false;
    }
    out.kid = kid->get<std::string>();
  }
  if (const auto alg = jwk.find("alg"); alg != jwk.end()) {
    if (!alg->is_string()) {
      error = "\"alg\" is not a string";
      return false;
    }
    out.alg = alg->get<std::string>();
  }
  const std::string type = kty->get<std::string>();
  if (type == "RSA") return rsaKey(jwk, out, error);
  if (type == "EC") {
    const auto crv = jwk.find("crv");
    const std::string curve = crv != jwk.end() && crv->is_string() ? crv->get<std::string>() : "";
    if (curve == "P-256" || curve == "P-384") return ecKey(jwk, curve, out, error);
    skip = "curve \"" + curve + "\" is not supported (P-256, P-384)";
    return false;
  }
  if (type == "OKP") {
    const auto crv = jwk.find("crv");
    if (crv != jwk.end() && *crv == "Ed25519") return ed25519Key(jwk, out, error);
    skip = "only the Ed25519 OKP curve is supported";
    return false;
  }
  skip = "key type \"" + type + "\" is not accepted (RSA, EC, OKP)";
  return false;
}

const EVP_MD* digestFor(Alg alg) {
  switch (alg) {
    case Alg::RS256:
    case Alg::PS256:
    case Alg::ES256:
      return EVP_sha256();
    case Alg::RS384:
    case Alg::PS384:
    case Alg::ES384:
      return EVP_sha384();
    case Alg::RS512:
    case Alg::PS512:
      return EVP_sha512();
    default:
      return nullptr;
  }
}

// JOSE's r || s as the DER ECDSA-Sig-Value OpenSSL verifies.
bool joseToDer(const std::string& sig, size_t half, std::string& der) {
  if (sig.size() != 2 * half) return false;
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> s(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), static_cast<int>(half),
                        nullptr);
  BIGNUM* ss = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + half,
                         static_cast<int>(half), nullptr);
  if (!s || r == nullptr || ss == nullptr || ECDSA_SIG_set0(s.get(), r, ss) == 0) {
    BN_free(r);
    BN_free(ss);
    return false;
  }
  unsigned char* out = nullptr;
  const int len = i2d_ECDSA_SIG(s.get(), &out);
  if (len <= 0) return false;
  der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return true;
}

}  // namespace

const Jwk* KeySet::find(std::string_view kid) const {
  for (const Jwk& k : keys_) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

bool parseJwks(std::string_view json, KeySet& out, std::string& error,
               std::vector<std::string>* skipped) {
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (!doc.is_object()) {
    error = "not a JSON object";
    return false;
  }
  nlohmann::json list;
  if (const auto keys = doc.find("keys"); keys != doc.end()) {
    if (!keys->is_array()) {
      error = "\"keys\" is not an array";
      return false;
    }
    list = *keys;
  } else {
    list = nlohmann::json::array({doc});
  }
  std::vector<Jwk> keys;
  for (size_t i = 0; i < list.size(); ++i) {
    Jwk key;
    std::string why;
    std::string skip;
    if (parseKey(list[i], key, why, skip)) {
      keys.push_back(std::move(key));
    } else if (!skip.empty()) {
      if (skipped != nullptr) skipped->push_back(keyLabel(list[i], i) + ": " + skip);
    } else {
      error = keyLabel(list[i], i) + ": " + why;
      return false;
    }
  }
  if (keys.empty()) {
    error = "the set holds no usable key (RSA, EC P-256/P-384 or Ed25519 signing keys)";
    return false;
  }
  out = KeySet(std::move(keys));
  return true;
}

bool keyFits(const Jwk& key, Alg alg) {
  if (!key.alg.empty() && key.alg != algName(alg)) return false;
  switch (alg) {
    case Alg::RS256:
    case Alg::RS384:
    case Alg::RS512:
    case Alg::PS256:
    case Alg::PS384:
    case Alg::PS512:
      return key.type == KeyType::Rsa;
    case Alg::ES256:
      return key.type == KeyType::EcP256;
    case Alg::ES384:
      return key.type == KeyType::EcP384;
    case Alg::EdDSA:
      return key.type == KeyType::Ed25519;
    case Alg::None:
    case Alg::Hmac:
    case Alg::Unknown:
      break;
  }
  return false;
}

bool verifySignature(const Token& token, const Jwk& key) {
  if (!keyFits(key, token.alg)) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = digestFor(token.alg);
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.key.get()) != 1) return false;
  std::string der;
  const std::string* sig = &token.signature;
  switch (token.alg) {
    case Alg::PS256:
    case Alg::PS384:
    case Alg::PS512:
      if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
        return false;
      }
      break;
    case Alg::ES256:
    case Alg::ES384:
      if (!joseToDer(token.signature, token.alg == Alg::ES256 ? 32 : 48, der)) return false;
      sig = &der;
      break;
    default:
      break;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                          sig->size(),
                          reinterpret_cast<const unsigned char*>(token.signing_input.data()),
                          token.signing_input.size()) == 1;
}

}  // namespace switchyard::filters::jwt_authn
