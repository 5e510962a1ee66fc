// nn.Linear and nn.functional.linear: y = x·Wᵀ + b.
using TorchSharp.Modules;
using TorchSharp.PInvoke;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>Applies <c>y = x·Wᵀ + b</c>; weight <c>(out_features, in_features)</c>, bias <c>(out_features)</c> or none.</summary>
        public sealed class Linear : nn.Module<Tensor, Tensor>
        {
            private const string WeightComponentName = nameof(weight);
            private const string BiasComponentName = nameof(bias);

            [ComponentName(Name = BiasComponentName)]
            private Parameter? _bias;
            [ComponentName(Name = WeightComponentName)]
            private Parameter? _weight;

            internal Linear(Parameter weight, Parameter? bias = null) : base(nameof(Linear))
            {
                in_features = weight.shape[1];
                out_features = weight.shape[0];
                this.weight = weight;
                if (bias is not null) this.bias = bias;
            }

            internal Linear(long inputSize, long outputSize, bool hasBias = true, Device? device = null, ScalarType? dtype = null) : base(nameof(Linear))
            {
                in_features = inputSize;
                out_features = outputSize;

                // PyTorch's reset_parameters: kaiming_uniform_(a = √5) for W, U(−1/√fan_in, 1/√fan_in) for b.
                weight = new Parameter(empty(new[] { outputSize, inputSize }, dtype, device));
                nn.init.kaiming_uniform_(weight, a: Math.Sqrt(5));
                if (hasBias) {
                    bias = new Parameter(empty(new[] { outputSize }, dtype, device));
                    var (fanIn, _) = nn.init.CalculateFanInAndFanOut(weight);
                    var bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
                    nn.init.uniform_(_bias!, -bound, bound);
                }
                // Not RegisterComponents: the setters registered weight then bias, in that order.
            }

            public override Tensor forward(Tensor tensor) => nn.functional.linear(tensor, _weight!, _bias);

            protected override void Dispose(bool disposing)
            {
                if (disposing) {
                    _weight?.Dispose();
                    _bias?.Dispose();
                }
            }

            /// <summary>The bias <c>(out_features)</c>, or null; setting it disposes the previous one and re-registers.</summary>
            public Parameter? bias {
                get => _bias;
                set {
                    _bias?.Dispose();
                    _bias = value?.DetachFromDisposeScope() as Parameter;
                    ConditionallyRegisterParameter(BiasComponentName, _bias);
                }
            }

            /// <summary>The weight <c>(out_features, in_features)</c>; setting it disposes the previous one and re-registers.</summary>
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
                if (_weight is not null && ReplaceParameter(dtype, device, _weight, out var w)) weight = w!;
                if (_bias is not null && ReplaceParameter(dtype, device, _bias, out var b)) bias = b!;
                return this;
            }

            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
            {
                var device = new Device(deviceType, deviceIndex);
                if (_weight is not null && ReplaceParameter(_weight.dtype, device, _weight, out var w)) weight = w!;
                if (_bias is not null && ReplaceParameter(_bias.dtype, device, _bias, out var b)) bias = b!;
                return this;
            }

            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking)
            {
                if (_weight is not null && ReplaceParameter(dtype, _weight.device, _weight, out var w)) weight = w!;
                if (_bias is not null && ReplaceParameter(dtype, _bias.device, _bias, out var b)) bias = b!;
                return this;
            }

            /// <summary>Size of each input sample.</summary>
            public long in_features { get; set; }

            /// <summary>Size of each output sample.</summary>
            public long out_features { get; set; }
        }
    }

    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>A Linear layer with PyTorch's default initialisation.</summary>
            /// <param name="inputSize">Size of each input sample.</param>
            /// <param name="outputSize">Size of each output sample.</param>
            /// <param name="hasBias">Whether the layer learns an additive bias.</param>
            /// <param name="device">The device of the parameters.</param>
            /// <param name="dtype">The element type of the parameters (default float32).</param>
            public static Linear Linear(long inputSize, long outputSize, bool hasBias = true, Device? device = null, ScalarType? dtype = null) =>
                new(inputSize, outputSize, hasBias, device, dtype);

            /// <summary>A Linear layer with the given weight and (optional) bias.</summary>
            public static Linear Linear(Parameter weight, Parameter? bias = null) => new(weight, bias);

            public static partial class functional
            {
                /// <summary>Applies <c>y = x·Wᵀ + b</c>.</summary>
                /// <param name="input">Input <c>(*, in)</c>.</param>
                /// <param name="weights">Weight <c>(out, in)</c> or <c>(in)</c>.</param>
                /// <param name="bias">Bias <c>(out)</c> or <c>()</c>, optional.</param>
                public static Tensor linear(Tensor input, Tensor weights, Tensor? bias = null) => Aten.T("aten::linear", "", input, weights, bias);
            }
        }
    }
}
