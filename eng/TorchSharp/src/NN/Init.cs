// nn.init: in-place initialisers (libtorch's torch::nn::init, run without recording gradients).
using System.Runtime.InteropServices;
using TorchSharp.PInvoke;

namespace TorchSharp
{
    public static partial class torch
    {
        public static partial class nn
        {
            /// <summary>Parameter initialisation; each function fills the tensor in place and returns it.</summary>
            public static class init
            {
                /// <summary>The non-linearities <see cref="calculate_gain"/> knows.</summary>
                public enum NonlinearityType
                {
                    Linear = 0,
                    Conv1D = 1,
                    Conv2D = 2,
                    Conv3D = 3,
                    ConvTranspose1D = 4,
                    ConvTranspose2D = 5,
                    ConvTranspose3D = 6,
                    Sigmoid = 7,
                    Tanh = 8,
                    ReLU = 9,
                    LeakyReLU = 10,
                }

                /// <summary>Whether Kaiming initialisation preserves the variance of the forward or the backward pass.</summary>
                public enum FanInOut
                {
                    FanIn = 0,
                    FanOut = 1,
                }

                /// <summary>The recommended gain for a non-linearity: 5/3 for tanh, √2 for ReLU, √(2/(1+slope²)) for leaky ReLU, else 1.</summary>
                public static double calculate_gain(NonlinearityType nonlinearity, double param = 0.0) => nonlinearity switch {
                    NonlinearityType.Tanh => 5.0 / 3.0,
                    NonlinearityType.ReLU => Math.Sqrt(2.0),
                    NonlinearityType.LeakyReLU => Math.Sqrt(2.0 / (1 + param * param)),
                    _ => 1.0,
                };

                /// <summary>Fills with 1.</summary>
                public static Tensor ones_(Tensor tensor) => NoGrad(tensor, t => t.fill_(1));

                /// <summary>Fills with 0.</summary>
                public static Tensor zeros_(Tensor tensor) => NoGrad(tensor, t => t.zero_());

                /// <summary>Fills with a value.</summary>
                public static Tensor constant_(Tensor tensor, Scalar val) => NoGrad(tensor, t => t.fill_(val));

                /// <summary>Fills a 2-D tensor with the identity matrix.</summary>
                public static Tensor eye_(Tensor tensor)
                {
                    if (tensor.dim() != 2) throw new ExternalException("Only tensors with 2 dimensions are supported");
                    return NoGrad(tensor, t => {
                        using var eye = Aten.T("aten::eye", "m", t.shape[0], t.shape[1], ((Arg)t.dtype).Named("dtype"), ((Arg)t.device).Named("device"));
                        t.copy_(eye);
                    });
                }

                /// <summary>Fills with values drawn from U(low, high).</summary>
                public static Tensor uniform_(Tensor tensor, double low = 0, double high = 1, Generator? generator = null) =>
                    NoGrad(tensor, t => t.uniform_(low, high));

                /// <summary>Fills with values drawn from N(mean, std²).</summary>
                public static Tensor normal_(Tensor tensor, double mean = 0, double std = 1, Generator? generator = null) =>
                    NoGrad(tensor, t => t.normal_(mean, std));

                /// <summary>Fills with values drawn from N(mean, std²) truncated to [a, b].</summary>
                public static Tensor trunc_normal_(Tensor tensor, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0, Generator? generator = null) =>
                    NoGrad(tensor, t => {
                        // Inverse-CDF sampling: uniform over [2Φ(a')−1, 2Φ(b')−1], then erfinv, scale and shift.
                        using var bounds = torch.tensor(new[] { (a - mean) / std / Math.Sqrt(2.0), (b - mean) / std / Math.Sqrt(2.0) });
                        using var erf = bounds.erf();
                        var ev = erf.data<double>().ToArray();
                        var l = (1 + ev[0]) / 2;
                        var u = (1 + ev[1]) / 2;
                        t.uniform_(2 * l - 1, 2 * u - 1);
                        Aten.Do("aten::erfinv_", "", t);
                        t.mul_(std * Math.Sqrt(2.0));
                        t.add_(mean);
                        t.clamp_(a, b);
                    });

                /// <summary>Kaiming (He) uniform: U(−bound, bound) with bound = gain·√(3 / fan).</summary>
                public static Tensor kaiming_uniform_(Tensor tensor, double a = 0, FanInOut mode = FanInOut.FanIn, NonlinearityType nonlinearity = NonlinearityType.LeakyReLU)
                {
                    var std = KaimingStd(tensor, a, mode, nonlinearity);
                    var bound = Math.Sqrt(3.0) * std;
                    return NoGrad(tensor, t => t.uniform_(-bound, bound));
                }

                /// <summary>Kaiming (He) normal: N(0, std²) with std = gain / √fan.</summary>
                public static Tensor kaiming_normal_(Tensor tensor, double a = 0, FanInOut mode = FanInOut.FanIn, NonlinearityType nonlinearity = NonlinearityType.LeakyReLU)
                {
                    var std = KaimingStd(tensor, a, mode, nonlinearity);
                    return NoGrad(tensor, t => t.normal_(0, std));
                }

                /// <summary>Xavier (Glorot) uniform: U(−a, a) with a = gain·√(6 / (fan_in + fan_out)).</summary>
                public static Tensor xavier_uniform_(Tensor tensor, double gain = 1.0)
                {
                    var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
                    var bound = Math.Sqrt(3.0) * gain * Math.Sqrt(2.0 / (fanIn + fanOut));
                    return NoGrad(tensor, t => t.uniform_(-bound, bound));
                }

                /// <summary>Same as <see cref="xavier_uniform_"/>.</summary>
                public static Tensor glorot_uniform_(Tensor tensor, double gain = 1.0) => xavier_uniform_(tensor, gain);

                /// <summary>
                /// Xavier (Glorot) "normal". As in TorchSharp 0.105.1, this draws from the Xavier <em>uniform</em>
                /// distribution.
                /// </summary>
                public static Tensor xavier_normal_(Tensor tensor, double gain = 1.0) => xavier_uniform_(tensor, gain);

                /// <summary>Same as <see cref="xavier_normal_"/>.</summary>
                public static Tensor glorot_normal_(Tensor tensor, double gain = 1.0) => xavier_normal_(tensor, gain);

                /// <summary>(fan_in, fan_out): (size(1), size(0)) times the receptive field size (elements of tensor[0, 0]).</summary>
                /// <exception cref="ArgumentException">The tensor has fewer than 2 dimensions.</exception>
                public static (long fanIn, long fanOut) CalculateFanInAndFanOut(Tensor tensor)
                {
                    var dims = tensor.Dimensions;
                    if (dims < 2) throw new ArgumentException("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
                    var shape = tensor.shape;
                    long receptive = 1;
                    for (int i = 2; i < shape.Length; i++) receptive *= shape[i];
                    return (shape[1] * receptive, shape[0] * receptive);
                }

                private static double KaimingStd(Tensor tensor, double a, FanInOut mode, NonlinearityType nonlinearity)
                {
                    if (tensor.Dimensions < 2) throw new ExternalException("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
                    var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
                    var fan = mode == FanInOut.FanIn ? fanIn : fanOut;
                    return fan == 0 ? 0.0 : calculate_gain(nonlinearity, a) / Math.Sqrt(fan);
                }

                private static Tensor NoGrad(Tensor tensor, Action<Tensor> fill)
                {
                    using (no_grad()) fill(tensor);
                    return tensor;
                }
            }
        }
    }
}
