using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Tests.TestSupport;

/// <summary>Plain-array arithmetic for "direct definition" checks, independent of the model code.</summary>
internal static class Dense
{
    /// <summary>A tensor's values as a row-major double array.</summary>
    public static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();

    /// <summary><c>x·Wᵀ + b</c> for one input row.</summary>
    public static double[] Linear(double[] x, double[] weight, double[] bias, int inFeatures, int outFeatures)
    {
        var y = new double[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            double sum = bias[o];
            for (int i = 0; i < inFeatures; i++)
            {
                sum += weight[(o * inFeatures) + i] * x[i];
            }

            y[o] = sum;
        }

        return y;
    }

    /// <summary>Row <paramref name="row"/> of a (rows, width) array.</summary>
    public static double[] Row(double[] data, int row, int width) => data.AsSpan(row * width, width).ToArray();

    /// <summary>The dot product of head <paramref name="head"/>'s slices of two vectors.</summary>
    public static double HeadDot(double[] a, double[] b, int head, int headSize)
    {
        double sum = 0;
        for (int i = 0; i < headSize; i++)
        {
            sum += a[(head * headSize) + i] * b[(head * headSize) + i];
        }

        return sum;
    }

    /// <summary>Softmax of the allowed entries; disallowed entries get probability 0.</summary>
    public static double[] Softmax(double[] scores, bool[] allowed)
    {
        var result = new double[scores.Length];
        double max = double.NegativeInfinity;
        for (int i = 0; i < scores.Length; i++)
        {
            if (allowed[i])
            {
                max = Math.Max(max, scores[i]);
            }
        }

        double total = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            result[i] = allowed[i] ? Math.Exp(scores[i] - max) : 0;
            total += result[i];
        }

        for (int i = 0; i < scores.Length; i++)
        {
            result[i] = total > 0 ? result[i] / total : 0;
        }

        return result;
    }
}
