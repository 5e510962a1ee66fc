using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Tests;

/// <summary>Small helpers shared by the tests: seeded layers, host copies, differences.</summary>
internal static class TestTensors
{
    /// <summary>A Linear with seeded N(0, 1) weights (and bias), in <paramref name="dtype"/>.</summary>
    public static Linear SeededLinear(long inFeatures, long outFeatures, bool hasBias, ScalarType dtype, long seed)
    {
        torch.manual_seed(seed);
        var weight = torch.randn(new[] { outFeatures, inFeatures }, dtype: dtype);
        var bias = hasBias ? torch.randn(new[] { outFeatures }, dtype: dtype) : null;
        return nn.Linear(new Parameter(weight), bias is null ? null : new Parameter(bias));
    }

    /// <summary>Seeded N(0, 1) values of the given shape.</summary>
    public static Tensor Seeded(long seed, ScalarType dtype, params long[] shape)
    {
        torch.manual_seed(seed);
        return torch.randn(shape, dtype: dtype);
    }

    /// <summary>The tensor's values as float64, on the host.</summary>
    public static double[] Values(Tensor tensor)
    {
        using var host = tensor.detach().to(ScalarType.Float64, new Device(DeviceType.CPU));
        using var flat = host.reshape(-1).contiguous();
        return flat.data<double>().ToArray();
    }

    /// <summary>max |a − b| over all elements (shapes must match).</summary>
    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        a.shape.Should().Equal(b.shape);
        var x = Values(a);
        var y = Values(b);
        var max = 0.0;
        for (var i = 0; i < x.Length; i++)
        {
            max = Math.Max(max, Math.Abs(x[i] - y[i]));
        }

        return max;
    }

    /// <summary>max |t| over all elements.</summary>
    public static double MaxAbs(Tensor t) => Values(t).Select(Math.Abs).DefaultIfEmpty(0).Max();

    /// <summary>Sets a tensor's values in place, outside autograd.</summary>
    public static void Set(Tensor target, params double[] values)
    {
        using var noGrad = torch.no_grad();
        using var source = torch.tensor(values, dtype: target.dtype);
        using var shaped = source.reshape(target.shape);
        target.copy_(shaped);
    }
}
