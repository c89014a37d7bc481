#include "filters/blocks.hpp"

namespace exportwall::filters::blocks {
namespace {

#if defined(EXPORTWALL_X86_BLOCKS)
bool cpu_has_avx2() {
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul");
    return has;
}
#endif

}  // namespace

bool supported(kernel k) {
    switch (k) {
        case kernel::best:
        case kernel::bytes:
            return true;
#if defined(EXPORTWALL_X86_BLOCKS)
        case kernel::sse2:
            return true;
        case kernel::avx2:
            return cpu_has_avx2();
#else
        case kernel::sse2:
        case kernel::avx2:
            return false;
#endif
    }
    return false;
}

kernel resolve(kernel k) {
    if (k != kernel::best) return k;
    return supported(kernel::avx2)   ? kernel::avx2
           : supported(kernel::sse2) ? kernel::sse2
                                     : kernel::bytes;
}

}  // namespace exportwall::filters::blocks
