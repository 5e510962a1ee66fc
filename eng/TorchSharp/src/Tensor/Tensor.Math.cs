// Tensor methods for arithmetic, reductions, comparisons and shape operations, each one ATen operator.
using TorchSharp.PInvoke;

namespace TorchSharp
{
    public static partial class torch
    {
        public partial class Tensor
        {
            // ---- arithmetic ------------------------------------------------------------------
            public Tensor add(Tensor target) => Aten.T("aten::add", "Tensor", this, target);
            public Tensor add(Tensor target, Scalar alpha) => Aten.T("aten::add", "Tensor", this, target, alpha);
            public Tensor add(Scalar scalar) => Aten.T("aten::add", "Scalar", this, scalar);
            public Tensor add(Scalar scalar, Scalar alpha) => Aten.T("aten::add", "Scalar", this, scalar, alpha);
            public Tensor add_(Tensor target) { Aten.Do("aten::add_", "Tensor", this, target); return this; }
            public Tensor add_(Tensor target, Scalar alpha) { Aten.Do("aten::add_", "Tensor", this, target, alpha); return this; }
            public Tensor add_(Scalar scalar) { Aten.Do("aten::add_", "Scalar", this, scalar); return this; }
            public Tensor sub(Tensor target) => Aten.T("aten::sub", "Tensor", this, target);
            public Tensor sub(Scalar target) => Aten.T("aten::sub", "Scalar", this, target);
            public Tensor sub_(Tensor target) { Aten.Do("aten::sub_", "Tensor", this, target); return this; }
            public Tensor sub_(Scalar target) { Aten.Do("aten::sub_", "Scalar", this, target); return this; }
            public Tensor mul(Tensor target) => Aten.T("aten::mul", "Tensor", this, target);
            public Tensor mul(Scalar target) => Aten.T("aten::mul", "Scalar", this, target);
            public Tensor mul_(Tensor target) { Aten.Do("aten::mul_", "Tensor", this, target); return this; }
            public Tensor mul_(Scalar target) { Aten.Do("aten::mul_", "Scalar", this, target); return this; }
            public Tensor div(Tensor target, RoundingMode rounding_mode = RoundingMode.None) =>
                rounding_mode == RoundingMode.None ? Aten.T("aten::div", "Tensor", this, target) : Aten.T("aten::div", "Tensor_mode", this, target, RoundingName(rounding_mode));
            public Tensor div(Scalar target, RoundingMode rounding_mode = RoundingMode.None) =>
                rounding_mode == RoundingMode.None ? Aten.T("aten::div", "Scalar", this, target) : Aten.T("aten::div", "Scalar_mode", this, target, RoundingName(rounding_mode));
            public Tensor div_(Tensor target, RoundingMode rounding_mode = RoundingMode.None) { if (rounding_mode == RoundingMode.None) Aten.Do("aten::div_", "Tensor", this, target); else Aten.Do("aten::div_", "Tensor_mode", this, target, RoundingName(rounding_mode)); return this; }
            public Tensor div_(Scalar target, RoundingMode rounding_mode = RoundingMode.None) { if (rounding_mode == RoundingMode.None) Aten.Do("aten::div_", "Scalar", this, target); else Aten.Do("aten::div_", "Scalar_mode", this, target, RoundingName(rounding_mode)); return this; }
            public Tensor remainder(Tensor target) => Aten.T("aten::remainder", "Tensor", this, target);
            public Tensor remainder(Scalar scalar) => Aten.T("aten::remainder", "Scalar", this, scalar);
            public Tensor addcmul_(Tensor tensor1, Tensor tensor2, Scalar value) { Aten.Do("aten::addcmul_", "", this, tensor1, tensor2, value); return this; }
            public Tensor addcdiv_(Tensor tensor1, Tensor tensor2, Scalar value) { Aten.Do("aten::addcdiv_", "", this, tensor1, tensor2, value); return this; }
            public Tensor lerp_(Tensor end, Scalar weight) { Aten.Do("aten::lerp_", "Scalar", this, end, weight); return this; }
            public Tensor neg() => Aten.T("aten::neg", "", this);
            public Tensor negative() => neg();
            public Tensor reciprocal() => Aten.T("aten::reciprocal", "", this);
            public Tensor abs() => Aten.T("aten::abs", "", this);
            public Tensor sqrt() => Aten.T("aten::sqrt", "", this);
            public Tensor sqrt_() { Aten.Do("aten::sqrt_", "", this); return this; }
            public Tensor rsqrt() => Aten.T("aten::rsqrt", "", this);
            public Tensor square() => Aten.T("aten::square", "", this);
            public Tensor exp() => Aten.T("aten::exp", "", this);
            public Tensor log() => Aten.T("aten::log", "", this);
            public Tensor sign() => Aten.T("aten::sign", "", this);
            public Tensor erf() => Aten.T("aten::erf", "", this);
            public Tensor sin() => Aten.T("aten::sin", "", this);
            public Tensor cos() => Aten.T("aten::cos", "", this);
            public Tensor tanh() => Aten.T("aten::tanh", "", this);
            public Tensor sigmoid() => Aten.T("aten::sigmoid", "", this);
            public Tensor relu() => Aten.T("aten::relu", "", this);
            public Tensor pow(Tensor exponent) => Aten.T("aten::pow", "Tensor_Tensor", this, exponent);
            public Tensor pow(Scalar exponent) => Aten.T("aten::pow", "Tensor_Scalar", this, exponent);
            public Tensor clamp(Scalar? min = null, Scalar? max = null) => Aten.T("aten::clamp", "", this, min, max);
            public Tensor clamp(Tensor? min = null, Tensor? max = null) => Aten.T("aten::clamp", "Tensor", this, min, max);
            public Tensor clamp_(Scalar? min = null, Scalar? max = null) { Aten.Do("aten::clamp_", "", this, min, max); return this; }
            public Tensor clip(Scalar? min = null, Scalar? max = null) => clamp(min, max);
            public Tensor clamp_min(Scalar min) => Aten.T("aten::clamp_min", "", this, min);
            public Tensor clamp_max(Scalar max) => Aten.T("aten::clamp_max", "", this, max);
            public Tensor maximum(Tensor other) => Aten.T("aten::maximum", "", this, other);
            public Tensor minimum(Tensor other) => Aten.T("aten::minimum", "", this, other);

            // ---- linear algebra --------------------------------------------------------------
            public Tensor matmul(Tensor target) => Aten.T("aten::matmul", "", this, target);
            public Tensor mm(Tensor target) => Aten.T("aten::mm", "", this, target);
            public Tensor bmm(Tensor batch2) => Aten.T("aten::bmm", "", this, batch2);
            public Tensor outer(Tensor vec2) => Aten.T("aten::outer", "", this, vec2);
            public Tensor diag(long diagonal = 0) => Aten.T("aten::diag", "", this, diagonal);
            public Tensor diagonal(long offset = 0, long dim1 = 0, long dim2 = 1) => Aten.T("aten::diagonal", "", this, offset, dim1, dim2);
            public Tensor t() => Aten.T("aten::t", "", this);
            public Tensor mT => Aten.T("aten::transpose", "int", this, -2L, -1L);

            // ---- reductions ------------------------------------------------------------------
            public Tensor sum(ScalarType? type = null) => Aten.T("aten::sum", "", this, type);
            public Tensor sum(long[] dim, bool keepdim = false, ScalarType? type = null) => Aten.T("aten::sum", "dim_IntList", this, dim, keepdim, type);
            public Tensor sum(long dim, bool keepdim = false, ScalarType? type = null) => sum(new[] { dim }, keepdim, type);
            public Tensor mean() => Aten.T("aten::mean", "", this);
            public Tensor mean(long[] dimensions, bool keepdim = false, ScalarType? type = null) => Aten.T("aten::mean", "dim", this, dimensions, keepdim, type);
            public Tensor max() => Aten.T("aten::max", "", this);
            public Tensor max(Tensor other) => maximum(other);
            public (Tensor values, Tensor indexes) max(long dim, bool keepdim = false) => Aten.T2("aten::max", "dim", this, dim, keepdim);
            public Tensor min() => Aten.T("aten::min", "", this);
            public Tensor min(Tensor other) => minimum(other);
            public (Tensor values, Tensor indexes) min(long dim, bool keepdim = false) => Aten.T2("aten::min", "dim", this, dim, keepdim);
            public Tensor argmax() => Aten.T("aten::argmax", "", this);
            public Tensor argmax(long dim, bool keepdim = false) => Aten.T("aten::argmax", "", this, dim, keepdim);
            public Tensor argmin() => Aten.T("aten::argmin", "", this);
            public Tensor argmin(long dim, bool keepdim = false) => Aten.T("aten::argmin", "", this, dim, keepdim);
            public Tensor norm(float p = 2.0f) => Aten.T("aten::norm", "Scalar", this, (double)p);
            public Tensor norm(int dim, bool keepdim = false, float p = 2.0f) => Aten.T("aten::norm", "ScalarOpt_dim", this, (double)p, new long[] { dim }, keepdim);
            public Tensor prod(ScalarType? type = null) => Aten.T("aten::prod", "", this, type);
            public Tensor cumsum(long dim, ScalarType? type = null) => Aten.T("aten::cumsum", "", this, dim, type);
            public Tensor var(bool unbiased = true) => Aten.T("aten::var", "", this, unbiased);
            public Tensor std(bool unbiased = true) => Aten.T("aten::std", "", this, unbiased);
            public Tensor all() => Aten.T("aten::all", "", this);
            public Tensor all(long dim, bool keepdim = false) => Aten.T("aten::all", "dim", this, dim, keepdim);
            public Tensor any() => Aten.T("aten::any", "", this);
            public Tensor any(long dim, bool keepdim = false) => Aten.T("aten::any", "dim", this, dim, keepdim);
            public (Tensor values, Tensor indices) topk(int k, int dim = -1, bool largest = true, bool sorted = true) => Aten.T2("aten::topk", "", this, (long)k, (long)dim, largest, sorted);
            public (Tensor values, Tensor indices) sort(long dim = -1, bool descending = false, bool stable = false) => Aten.T2("aten::sort", "stable", this, stable, dim, descending);
            public Tensor argsort(long dim = -1, bool descending = false) => Aten.T("aten::argsort", "", this, dim, descending);

            // ---- comparisons -----------------------------------------------------------------
            public Tensor eq(Tensor target) => Aten.T("aten::eq", "Tensor", this, target);
            public Tensor eq(Scalar target) => Aten.T("aten::eq", "Scalar", this, target);
            public Tensor equal(Tensor target) => eq(target);
            public Tensor ne(Tensor target) => Aten.T("aten::ne", "Tensor", this, target);
            public Tensor ne(Scalar target) => Aten.T("aten::ne", "Scalar", this, target);
            public Tensor not_equal(Tensor target) => ne(target);
            public Tensor lt(Tensor target) => Aten.T("aten::lt", "Tensor", this, target);
            public Tensor lt(Scalar target) => Aten.T("aten::lt", "Scalar", this, target);
            public Tensor le(Tensor target) => Aten.T("aten::le", "Tensor", this, target);
            public Tensor le(Scalar target) => Aten.T("aten::le", "Scalar", this, target);
            public Tensor gt(Tensor target) => Aten.T("aten::gt", "Tensor", this, target);
            public Tensor gt(Scalar target) => Aten.T("aten::gt", "Scalar", this, target);
            public Tensor ge(Tensor target) => Aten.T("aten::ge", "Tensor", this, target);
            public Tensor ge(Scalar target) => Aten.T("aten::ge", "Scalar", this, target);
            public bool allclose(Tensor target, double rtol = 1e-05, double atol = 1e-08, bool equal_nan = false) => Aten.Bool("aten::allclose", "", this, target, rtol, atol, equal_nan);
            public Tensor isfinite() => Aten.T("aten::isfinite", "", this);
            public Tensor isnan() => Aten.T("aten::isnan", "", this);
            public Tensor logical_not() => Aten.T("aten::logical_not", "", this);
            public Tensor logical_and(Tensor other) => Aten.T("aten::logical_and", "", this, other);
            public Tensor logical_or(Tensor other) => Aten.T("aten::logical_or", "", this, other);
            public Tensor bitwise_and(Tensor other) => Aten.T("aten::bitwise_and", "Tensor", this, other);
            public Tensor bitwise_or(Tensor other) => Aten.T("aten::bitwise_or", "Tensor", this, other);
            public Tensor bitwise_xor(Tensor other) => Aten.T("aten::bitwise_xor", "Tensor", this, other);
            public Tensor bitwise_not() => Aten.T("aten::bitwise_not", "", this);
            public Tensor masked_fill(Tensor mask, Scalar value) => Aten.T("aten::masked_fill", "Scalar", this, mask, value);
            public Tensor masked_fill_(Tensor mask, Scalar value) { Aten.Do("aten::masked_fill_", "Scalar", this, mask, value); return this; }
            public Tensor masked_select(Tensor mask) => Aten.T("aten::masked_select", "", this, mask);
            public Tensor where(Tensor condition, Tensor y) => Aten.T("aten::where", "self", condition, this, y);

            // ---- copies, fills and conversions -----------------------------------------------
            public Tensor clone() => Aten.T("aten::clone", "", this);
            public Tensor contiguous() => Aten.T("aten::contiguous", "", this);
            public Tensor copy_(Tensor source, bool nonBlocking = false) { Aten.Do("aten::copy_", "", this, source, nonBlocking); return this; }
            public Tensor zero_() { Aten.Do("aten::zero_", "", this); return this; }
            public Tensor fill_(Scalar value) { Aten.Do("aten::fill_", "Scalar", this, value); return this; }
            public Tensor normal_(double mean = 0, double std = 1) { Aten.Do("aten::normal_", "", this, mean, std); return this; }
            public Tensor uniform_(double from, double to) { Aten.Do("aten::uniform_", "", this, from, to); return this; }
            public Tensor detach_() { Aten.Do("aten::detach_", "", this); return this; }

            public Tensor to_type(ScalarType type, bool copy = false, bool disposeAfter = false, bool non_blocking = false)
            {
                var result = Aten.T("aten::to", "dtype", this, type, non_blocking, copy);
                if (disposeAfter && !ReferenceEquals(result, this)) Dispose();
                return result;
            }

            public Tensor to(ScalarType type, bool copy = false, bool disposeAfter = false, bool non_blocking = false) => to_type(type, copy, disposeAfter, non_blocking);
            public Tensor to(ScalarType type, Device device, bool copy = false, bool disposeAfter = false, bool non_blocking = false)
            {
                var result = Aten.T("aten::to", "device", this, device, type, non_blocking, copy);
                if (disposeAfter) Dispose();
                return result;
            }
            public Tensor to(Device device, bool copy = false, bool disposeAfter = false, bool non_blocking = false) => to(dtype, device, copy, disposeAfter, non_blocking);
            public Tensor to(DeviceType deviceType, int deviceIndex = -1, bool copy = false, bool disposeAfter = false, bool non_blocking = false) => to(new Device(deviceType, deviceIndex), copy, disposeAfter, non_blocking);
            public Tensor to(string device, bool copy = false, bool disposeAfter = false, bool non_blocking = false) => to(new Device(device), copy, disposeAfter, non_blocking);
            public Tensor to(Tensor other, bool copy = false, bool disposeAfter = false, bool non_blocking = false) => to(other.dtype, other.device, copy, disposeAfter, non_blocking);
            public Tensor cpu() => to(CPU);
            public Tensor type_as(Tensor tensor) => to_type(tensor.dtype);
            public Tensor @bool() => to_type(ScalarType.Bool);
            public Tensor @long() => to_type(ScalarType.Int64);
            public Tensor @int() => to_type(ScalarType.Int32);
            public Tensor @float() => to_type(ScalarType.Float32);
            public Tensor @double() => to_type(ScalarType.Float64);
            public Tensor half() => to_type(ScalarType.Float16);
            public Tensor bfloat16() => to_type(ScalarType.BFloat16);
            public bool is_floating_point() => dtype is ScalarType.Float16 or ScalarType.Float32 or ScalarType.Float64 or ScalarType.BFloat16;

            private static string RoundingName(RoundingMode mode) => mode == RoundingMode.trunc ? "trunc" : "floor";

            // ---- operators -------------------------------------------------------------------
            public static Tensor operator +(Tensor left, Tensor right) => left.add(right);
            public static Tensor operator +(Tensor left, Scalar right) => left.add(right);
            public static Tensor operator +(Scalar left, Tensor right) => right.add(left);
            public static Tensor operator +(Tensor left, int right) => left.add(right);
            public static Tensor operator +(Tensor left, long right) => left.add(right);
            public static Tensor operator +(Tensor left, float right) => left.add(right);
            public static Tensor operator +(Tensor left, double right) => left.add(right);
            public static Tensor operator +(int left, Tensor right) => right.add(left);
            public static Tensor operator +(long left, Tensor right) => right.add(left);
            public static Tensor operator +(float left, Tensor right) => right.add(left);
            public static Tensor operator +(double left, Tensor right) => right.add(left);
            public static Tensor operator *(Tensor left, Tensor right) => left.mul(right);
            public static Tensor operator *(Tensor left, Scalar right) => left.mul(right);
            public static Tensor operator *(Scalar left, Tensor right) => right.mul(left);
            public static Tensor operator *(Tensor left, int right) => left.mul(right);
            public static Tensor operator *(Tensor left, long right) => left.mul(right);
            public static Tensor operator *(Tensor left, float right) => left.mul(right);
            public static Tensor operator *(Tensor left, double right) => left.mul(right);
            public static Tensor operator *(int left, Tensor right) => right.mul(left);
            public static Tensor operator *(long left, Tensor right) => right.mul(left);
            public static Tensor operator *(float left, Tensor right) => right.mul(left);
            public static Tensor operator *(double left, Tensor right) => right.mul(left);
            public static Tensor operator -(Tensor left, Tensor right) => left.sub(right);
            public static Tensor operator -(Tensor left, Scalar right) => left.sub(right);
            public static Tensor operator -(Scalar left, Tensor right) => right.negative().add(left);
            public static Tensor operator -(Tensor left, int right) => left.sub(right);
            public static Tensor operator -(Tensor left, long right) => left.sub(right);
            public static Tensor operator -(Tensor left, float right) => left.sub(right);
            public static Tensor operator -(Tensor left, double right) => left.sub(right);
            public static Tensor operator -(int left, Tensor right) => right.negative().add(left);
            public static Tensor operator -(long left, Tensor right) => right.negative().add(left);
            public static Tensor operator -(float left, Tensor right) => right.negative().add(left);
            public static Tensor operator -(double left, Tensor right) => right.negative().add(left);
            public static Tensor operator /(Tensor left, Tensor right) => left.div(right);
            public static Tensor operator /(Tensor left, Scalar right) => left.div(right);
            public static Tensor operator /(Scalar left, Tensor right) => right.reciprocal().mul(left);
            public static Tensor operator /(Tensor left, int right) => left.div(right);
            public static Tensor operator /(Tensor left, long right) => left.div(right);
            public static Tensor operator /(Tensor left, float right) => left.div(right);
            public static Tensor operator /(Tensor left, double right) => left.div(right);
            public static Tensor operator /(int left, Tensor right) => right.reciprocal().mul(left);
            public static Tensor operator /(long left, Tensor right) => right.reciprocal().mul(left);
            public static Tensor operator /(float left, Tensor right) => right.reciprocal().mul(left);
            public static Tensor operator /(double left, Tensor right) => right.reciprocal().mul(left);
            public static Tensor operator %(Tensor left, Tensor right) => left.remainder(right);
            public static Tensor operator %(Tensor left, Scalar right) => left.remainder(right);
            public static Tensor operator &(Tensor left, Tensor right) => left.bitwise_and(right);
            public static Tensor operator |(Tensor left, Tensor right) => left.bitwise_or(right);
            public static Tensor operator ^(Tensor left, Tensor right) => left.bitwise_xor(right);
            public static Tensor operator ~(Tensor left) => left.bitwise_not();
            public static Tensor operator -(Tensor tensor) => tensor.neg();
        }

        /// <summary>How division rounds.</summary>
        public enum RoundingMode
        {
            None,
            trunc,
            floor,
        }
    }
}
