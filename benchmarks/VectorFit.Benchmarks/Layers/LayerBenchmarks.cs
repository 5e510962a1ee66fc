using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Benchmarks.Models;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.Layers;

/// <summary>
/// One linear layer of shape <c>in → out</c> at N tokens, six ways: frozen <c>Linear</c> (the baseline), trainable
/// <c>Linear</c>, LoRA r=1 (<see cref="LoraLinear"/>), <see cref="VectorFitLinear"/> (σ and b trainable),
/// <see cref="VectorFitLinear"/> with σ frozen (as AVF leaves it) and the merged layer
/// (<see cref="VectorFitLinear.ToLinear"/>, frozen); plus SVFT (<see cref="SvftLinear"/>, values and b trainable) with
/// the plain and the banded d = 2 pattern.
/// </summary>
/// <remarks>
/// <para><b>Forward</b>: the forward pass as in training (autograd on; the input does not require grad).</para>
/// <para><b>ForwardBackward</b>: forward, then backward from a fixed output gradient, with the input requiring
/// grad as in any layer past the first; every gradient is cleared after each call.</para>
/// <para><b>Inference</b>: the forward pass under <c>no_grad</c>.</para>
/// Ratios are against the frozen <c>Linear</c> of the same category and token count. The concrete classes fix
/// the shape, so <c>--filter '*Linear768x3072*'</c> picks one shape and <c>--anyCategories Forward</c> one pass.
/// </remarks>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public abstract class LayerBenchmarks
{
    private Linear _frozen = null!;
    private Linear _trainable = null!;
    private LoraLinear _lora = null!;
    private VectorFitLinear _vectorFit = null!;
    private VectorFitLinear _vectorFitFrozenSigma = null!;
    private Linear _merged = null!;
    private SvftLinear _svftPlain = null!;
    private SvftLinear _svftBanded2 = null!;
    private Tensor _input = null!;
    private Tensor _inputWithGrad = null!;
    private Tensor _outputGrad = null!;

    /// <summary>Tokens N (rows of the input).</summary>
    [Params(128, 4096)]
    public int Tokens { get; set; }

    /// <summary>in_features.</summary>
    protected abstract long InFeatures { get; }

    /// <summary>out_features.</summary>
    protected abstract long OutFeatures { get; }

    /// <summary>Builds every variant from one random Linear, and the inputs.</summary>
    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(2);
        torch.manual_seed(0);
        _frozen = nn.Linear(InFeatures, OutFeatures);
        _vectorFit = VectorFitLinear.FromLinear(_frozen);
        _vectorFitFrozenSigma = VectorFitLinear.FromLinear(_frozen);
        _vectorFitFrozenSigma.sigma.requires_grad = false;
        _merged = _vectorFit.ToLinear();
        _svftPlain = SvftLinear.FromLinear(_frozen);
        _svftBanded2 = SvftLinear.FromLinear(_frozen, new SvftLinearOptions { Pattern = SvftPattern.Banded(2) });
        Freeze(_merged);
        _trainable = nn.Linear(InFeatures, OutFeatures);
        _lora = new LoraLinear(nn.Linear(InFeatures, OutFeatures), rank: 1, alpha: 1);
        using (torch.no_grad())
        {
            // B = 0 would let a clever kernel skip nothing, but keep the LoRA update non-trivial anyway.
            _lora.B.normal_(0, 0.01);
        }

        Freeze(_frozen);
        _input = torch.randn(Tokens, InFeatures);
        _inputWithGrad = torch.randn(Tokens, InFeatures).requires_grad_(true);
        _outputGrad = torch.randn(Tokens, OutFeatures);
    }

    /// <summary>Releases the layers and tensors.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var module in new nn.Module[] { _frozen, _trainable, _lora, _vectorFit, _vectorFitFrozenSigma, _merged, _svftPlain, _svftBanded2 })
        {
            module.Dispose();
        }

        _input.Dispose();
        _inputWithGrad.Dispose();
        _outputGrad.Dispose();
    }

    /// <summary>Frozen Linear, training-mode forward (baseline).</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("Forward")]
    public void Forward_FrozenLinear() => Forward(_frozen);

    /// <summary>Trainable Linear, training-mode forward.</summary>
    [Benchmark, BenchmarkCategory("Forward")]
    public void Forward_TrainableLinear() => Forward(_trainable);

    /// <summary>LoRA r=1, training-mode forward.</summary>
    [Benchmark, BenchmarkCategory("Forward")]
    public void Forward_LoRA_r1() => Forward(_lora);

    /// <summary>VectorFitLinear (σ, b trainable), training-mode forward.</summary>
    [Benchmark, BenchmarkCategory("Forward")]
    public void Forward_VectorFit() => Forward(_vectorFit);

    /// <summary>VectorFitLinear with σ frozen, training-mode forward.</summary>
    [Benchmark, BenchmarkCategory("Forward")]
    public void Forward_VectorFit_SigmaFrozen() => Forward(_vectorFitFrozenSigma);

    /// <summary>Merged Linear, training-mode forward.</summary>
    [Benchmark, BenchmarkCategory("Forward")]
    public void Forward_Merged() => Forward(_merged);

    /// <summary>SvftLinear, plain pattern (M diagonal), training-mode forward.</summary>
    [Benchmark, BenchmarkCategory("Forward")]
    public void Forward_Svft_Plain() => Forward(_svftPlain);

    /// <summary>SvftLinear, banded d = 2, training-mode forward.</summary>
    [Benchmark, BenchmarkCategory("Forward")]
    public void Forward_Svft_Banded2() => Forward(_svftBanded2);

    /// <summary>Frozen Linear, forward + backward (baseline).</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("ForwardBackward")]
    public void ForwardBackward_FrozenLinear() => ForwardBackward(_frozen);

    /// <summary>Trainable Linear, forward + backward.</summary>
    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void ForwardBackward_TrainableLinear() => ForwardBackward(_trainable);

    /// <summary>LoRA r=1, forward + backward.</summary>
    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void ForwardBackward_LoRA_r1() => ForwardBackward(_lora);

    /// <summary>VectorFitLinear (σ, b trainable), forward + backward.</summary>
    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void ForwardBackward_VectorFit() => ForwardBackward(_vectorFit);

    /// <summary>VectorFitLinear with σ frozen (b trainable), forward + backward.</summary>
    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void ForwardBackward_VectorFit_SigmaFrozen() => ForwardBackward(_vectorFitFrozenSigma);

    /// <summary>Merged Linear (frozen), forward + backward to the input.</summary>
    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void ForwardBackward_Merged() => ForwardBackward(_merged);

    /// <summary>SvftLinear, plain pattern, forward + backward.</summary>
    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void ForwardBackward_Svft_Plain() => ForwardBackward(_svftPlain);

    /// <summary>SvftLinear, banded d = 2, forward + backward.</summary>
    [Benchmark, BenchmarkCategory("ForwardBackward")]
    public void ForwardBackward_Svft_Banded2() => ForwardBackward(_svftBanded2);

    /// <summary>Frozen Linear under no_grad (baseline).</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("Inference")]
    public void Inference_FrozenLinear() => Inference(_frozen);

    /// <summary>VectorFitLinear (unmerged) under no_grad.</summary>
    [Benchmark, BenchmarkCategory("Inference")]
    public void Inference_VectorFit() => Inference(_vectorFit);

    /// <summary>Merged Linear under no_grad.</summary>
    [Benchmark, BenchmarkCategory("Inference")]
    public void Inference_Merged() => Inference(_merged);

    private void Forward(nn.Module<Tensor, Tensor> layer)
    {
        using var scope = torch.NewDisposeScope();
        layer.forward(_input);
    }

    private void Inference(nn.Module<Tensor, Tensor> layer)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        layer.forward(_input);
    }

    private void ForwardBackward(nn.Module<Tensor, Tensor> layer)
    {
        using (var scope = torch.NewDisposeScope())
        {
            var output = layer.forward(_inputWithGrad);
            output.backward(new[] { _outputGrad });
        }

        _inputWithGrad.grad = null;
        foreach (var parameter in layer.parameters())
        {
            parameter.grad = null;
        }
    }

    private static void Freeze(nn.Module module)
    {
        foreach (var parameter in module.parameters())
        {
            parameter.requires_grad = false;
        }
    }
}

/// <summary>768 → 768 (BERT-base q, k, v, o).</summary>
public class Linear768x768 : LayerBenchmarks
{
    /// <inheritdoc />
    protected override long InFeatures => 768;

    /// <inheritdoc />
    protected override long OutFeatures => 768;
}

/// <summary>768 → 3072 (BERT-base f1).</summary>
public class Linear768x3072 : LayerBenchmarks
{
    /// <inheritdoc />
    protected override long InFeatures => 768;

    /// <inheritdoc />
    protected override long OutFeatures => 3072;
}

/// <summary>3072 → 768 (BERT-base f2).</summary>
public class Linear3072x768 : LayerBenchmarks
{
    /// <inheritdoc />
    protected override long InFeatures => 3072;

    /// <inheritdoc />
    protected override long OutFeatures => 768;
}

/// <summary>1024 → 1024 (BERT-large / BART-large projections).</summary>
public class Linear1024x1024 : LayerBenchmarks
{
    /// <inheritdoc />
    protected override long InFeatures => 1024;

    /// <inheritdoc />
    protected override long OutFeatures => 1024;
}

/// <summary>4096 → 4096 (LLaMA-7B projections).</summary>
public class Linear4096x4096 : LayerBenchmarks
{
    /// <inheritdoc />
    protected override long InFeatures => 4096;

    /// <inheritdoc />
    protected override long OutFeatures => 4096;
}
