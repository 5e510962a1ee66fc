// nn.LayerNorm and nn.functional.layer_norm.
using TorchSharp.Modules;
using TorchSharp.PInvoke;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>
        /// Normalises over the last dimensions (<see cref="normalized_shape"/>) with the biased variance,
        /// <c>(x − mean) / √(var + eps) · weight + bias</c>.
        /// </summary>
        public sealed class LayerNorm : nn.Module<Tensor, Tensor>
        {
            private const string WeightComponentName = nameof(weight);
            private const string BiasComponentName = nameof(bias);

            [ComponentName(Name = BiasComponentName)]
            private Parameter? _bias;
            [ComponentName(Name = WeightComponentName)]
            private Parameter? _weight;

            internal LayerNorm(long[] normalized_shape, double eps, bool elementwise_affine, bool bias, Device? device, ScalarType? dtype) : base(nameof(LayerNorm))
            {
                this.normalized_shape = normalized_shape;
                this.eps = eps;
                this.elementwise_affine = elementwise_affine;
                if (elementwise_affine) {
                    weight = nn.Parameter(empty(normalized_shape, dtype, device));
                    if (bias) this.bias = nn.Parameter(empty(normalized_shape, dtype, device));
                }
                reset_parameters();
            }

            /// <summary>Sets the weight to ones and the bias to zeros.</summary>
            public void reset_parameters()
            {
                if (elementwise_affine) nn.init.ones_(weight);
                if (bias is not null) nn.init.zeros_(bias);
            }

            public override Tensor forward(Tensor tensor) => nn.functional.layer_norm(tensor, normalized_shape, weight, bias, eps);

            protected override void Dispose(bool disposing)
            {
                _weight?.Dispose();
                _bias?.Dispose();
                base.Dispose(disposing);
            }

            /// <summary>The additive bias, or null; setting it disposes the previous one and re-registers.</summary>
            public Parameter? bias {
                get => _bias;
                set {
                    _bias?.Dispose();
                    _bias = value?.DetachFromDisposeScope() as Parameter;
                    ConditionallyRegisterParameter(BiasComponentName, _bias);
                }
            }

            /// <summary>The multiplicative weight (null without elementwise_affine); setting it re-registers.</summary>
            public Parameter weight {
                get => _weight!;
                set {
                    ArgumentNullException.ThrowIfNull(value, nameof(weight));
                    if (value.Handle != _weight?.Handle) {
                        _weight?.Dispose();
                        _weight = (value.DetachFromDisposeScope() as Parameter)!;
                        ConditionallyRegisterParameter(WeightComponentName, _weight);
                    }
                }
            }

            protected internal override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
            {
                if (_weight is not null && ReplaceParameter(dtype, device, _weight, out Parameter? w)) weight = w!;
                if (_bias is not null && ReplaceParameter(dtype, device, _bias, out Parameter? b)) bias = b!;
                return this;
            }

            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
            {
                var device = new Device(deviceType, deviceIndex);
                if (_weight is not null && ReplaceParameter(_weight.dtype, device, _weight, out Parameter? w)) weight = w!;
                if (_bias is not null && ReplaceParameter(_bias.dtype, device, _bias, out Parameter? b)) bias = b!;
                return this;
            }

            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking)
            {
                if (_weight is not null && ReplaceParameter(dtype, _weight.device, _weight, out Parameter? w)) weight = w!;
                if (_bias is not null && ReplaceParameter(dtype, _bias.device, _bias, out Parameter? b)) bias = b!;
                return this;
            }

            /// <summary>The trailing shape normalised over.</summary>
            public long[] normalized_shape { get; set; }

            /// <summary>Added to the variance for numerical stability.</summary>
            public double eps { get; set; }

            /// <summary>Whether the layer has a learnable weight (and bias).</summary>
            public bool elementwise_affine { get; set; }
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>Layer normalisation over the trailing <paramref name="normalized_shape"/>.</summary>
            /// <param name="normalized_shape">The trailing shape of the input to normalise over.</param>
            /// <param name="eps">Added to the variance for numerical stability.</param>
            /// <param name="elementwise_affine">Learnable per-element weight (ones) and bias (zeros).</param>
            /// <param name="bias">Whether there is a bias (with <paramref name="elementwise_affine"/>).</param>
            /// <param name="device">The device of the parameters.</param>
            /// <param name="dtype">The element type of the parameters (default float32).</param>
            public static LayerNorm LayerNorm(long[] normalized_shape, double eps = 1e-05, bool elementwise_affine = true, bool bias = true, Device? device = null, ScalarType? dtype = null) =>
                new(normalized_shape, eps, elementwise_affine, bias, device, dtype);

            /// <summary>Layer normalisation over the last dimension, of size <paramref name="normalized_shape"/>.</summary>
            public static LayerNorm LayerNorm(long normalized_shape, double eps = 1e-05, bool elementwise_affine = true, bool bias = true, Device? device = null, ScalarType? dtype = null) =>
                LayerNorm(new[] { normalized_shape }, eps, elementwise_affine, bias, device, dtype);

            public static partial class functional
            {
                /// <summary>Layer normalisation: <c>(x − mean) / √(var + eps) · weight + bias</c> over the trailing shape (biased variance).</summary>
                public static Tensor layer_norm(Tensor input, long[] normalized_shape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5) =>
                    Aten.T("aten::layer_norm", "", input, normalized_shape, weight, bias, eps);
            }
        }
    }
}
