// cudaemu stands in for CUB's device radix sort with a stable sort on the
// host: the same order of keys (bits [begin_bit, end_bit), a signed key's
// sign bit flipped, as CUB orders them) and of equal keys' values.
#ifndef PIC_CUDAEMU_CUB_RADIX_SORT
#define PIC_CUDAEMU_CUB_RADIX_SORT

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cudaemu.h"

namespace cub {
struct DeviceRadixSort {
    template <typename K, typename V>
    static cudaError_t SortPairs(void *temp, size_t &temp_bytes, const K *keys_in, K *keys_out, const V *values_in,
                                 V *values_out, int n, int begin_bit = 0, int end_bit = sizeof(K) * 8,
                                 cudaStream_t s = 0, bool = false) {
        static_assert(std::is_integral<K>::value && sizeof(K) <= 8, "integer keys");
        if (!temp) { // the size query: any non-zero amount will do
            temp_bytes = 16;
            return cudaSuccess;
        }
        if (n < 0 || begin_bit < 0 || end_bit > (int)sizeof(K) * 8 || begin_bit > end_bit) return cudaErrorInvalidValue;
        emu_enqueue(s, [=]() {
            typedef typename std::make_unsigned<K>::type U;
            auto digit = [=](K k) {
                U u = (U)k;
                if (std::is_signed<K>::value) u ^= (U)1 << (sizeof(K) * 8 - 1);
                U width = (U)(end_bit - begin_bit);
                U mask = width >= sizeof(U) * 8 ? ~(U)0 : (((U)1 << width) - 1);
                return (U)(u >> begin_bit) & mask;
            };
            std::vector<int> order(n);
            for (int i = 0; i < n; i++) order[i] = i;
            std::stable_sort(order.begin(), order.end(),
                             [&](int a, int b) { return digit(keys_in[a]) < digit(keys_in[b]); });
            std::vector<K> k(n);
            std::vector<V> v(n);
            for (int i = 0; i < n; i++) k[i] = keys_in[order[i]], v[i] = values_in[order[i]];
            std::copy(k.begin(), k.end(), keys_out);
            std::copy(v.begin(), v.end(), values_out);
        });
        return cudaSuccess;
    }
};
}  // namespace cub

#endif
