using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests.Reliability;

/// <summary>Surgery on bad input: a clear error before the first change, and the model exactly as it was.</summary>
[Collection("libtorch")]
public sealed class SurgeryReliabilityTests
{
    /// <summary>A model whose task head holds an int64 Parameter (e.g. a lookup table someone registered as a parameter).</summary>
    private sealed class IntParameterHeadModel : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> proj;
        private readonly Head head;

        public IntParameterHeadModel() : base(nameof(IntParameterHeadModel))
        {
            torch.manual_seed(3);
            proj = ContainerModels.NewLinear();
            head = new Head();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var h = proj.forward(x);
            return head.forward(h);
        }
    }

    private sealed class Head : nn.Module<Tensor, Tensor>
    {
        private readonly Linear dense;
        private readonly Parameter table;

        public Head() : base(nameof(Head))
        {
            dense = ContainerModels.NewLinear();
            table = new Parameter(torch.arange(4, dtype: ScalarType.Int64), requires_grad: false);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => dense.forward(x);
    }

    /// <summary>A head whose weight is an inference tensor: every check passes, then libtorch refuses requires_grad = true.</summary>
    private sealed class InferenceHeadModel : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> proj;
        private readonly nn.Module<Tensor, Tensor> head;

        public InferenceHeadModel() : base(nameof(InferenceHeadModel))
        {
            torch.manual_seed(4);
            proj = ContainerModels.NewLinear();
            Tensor weight;
            using (torch.inference_mode())
            {
                weight = torch.ones(2, ContainerModels.Features, dtype: ScalarType.Float64);
            }

            head = nn.Linear(new Parameter(weight, requires_grad: false));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var h = proj.forward(x);
            return head.forward(h);
        }
    }

    /// <summary>What libtorch refuses only once the layers are swapped is undone: the model is exactly as before.</summary>
    [Fact]
    public void LibtorchFailureAfterTheChecks_IsUndone()
    {
        using var model = new InferenceHeadModel();
        using var x = torch.ones(3, ContainerModels.Features, dtype: ScalarType.Float64);
        using var noGrad = torch.no_grad(); // an inference tensor cannot enter autograd
        using var before = model.forward(x);
        var modulesBefore = model.named_modules().Select(m => (m.name, m.module)).ToList();
        var flagsBefore = model.named_parameters().Select(p => (p.name, p.parameter.requires_grad)).ToList();

        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { TargetNames = ["proj"], ModulesToSave = ["head"] });

        act.Should().Throw<InvalidOperationException>().WithMessage("*failed while replacing the layers and was undone; the model is unchanged*");
        model.named_modules().Select(m => (m.name, m.module)).Should().Equal(modulesBefore, "the Linear is back in its slot");
        model.named_parameters().Select(p => (p.name, p.parameter.requires_grad)).Should().Equal(flagsBefore);
        using var after = model.forward(x);
        after.allclose(before, rtol: 0, atol: 0).Should().BeTrue("forward uses the original Linear again");
    }

    [Fact]
    public void ModulesToSaveWithAnIntegerParameter_IsRejectedBeforeAnyChange()
    {
        using var model = new IntParameterHeadModel();
        var modulesBefore = model.named_modules().Select(m => (m.name, m.module)).ToList();
        var flagsBefore = model.named_parameters().Select(p => (p.name, p.parameter.requires_grad)).ToList();

        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { TargetNames = ["proj"], ModulesToSave = ["head"] });

        act.Should().Throw<ArgumentException>()
            .WithMessage("*changed nothing*'head.table' (Int64)*cannot train*register_buffer*");
        model.named_modules().Select(m => (m.name, m.module)).Should().Equal(modulesBefore, "no layer was replaced");
        model.named_modules().Select(m => m.module).OfType<VectorFitLinear>().Should().BeEmpty();
        model.named_parameters().Select(p => (p.name, p.parameter.requires_grad)).Should().Equal(flagsBefore, "nothing was frozen");
    }
}
